import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from radtune.errors import ConfigError
from radtune.params import compose, validate
from radtune.splits import assign_patients, quality_gate
from radtune.variants.pedirad_8k import stages
from radtune.variants.pedirad_8k.stats import dataset_metrics
from radtune.variants.pedirad_8k.stratify import split_warnings, stratify

CONF = Path(__file__).resolve().parents[1] / "conf"


def _records(n_patients=200, images_per_patient=2):
    out = []
    for p in range(n_patients):
        for k in range(images_per_patient):
            out.append(
                {
                    "source": f"p{p:03d}_{k}.dcm",
                    "status": "ok",
                    "stage": "annotate",
                    "reason": None,
                    "image_id": f"i{p:03d}{k}",
                    "patient_id": f"P{p:03d}",
                    "age_months": (p * 7) % 144,
                    "sex": "MF"[p % 2],
                    "fracture": p % 3 != 0,
                    "quality_score": 0.5 if p == 5 else 0.95,
                    "source_split": None,
                }
            )
    return out


def _split(records, seed=42):
    return stratify(
        records,
        mode="stratified",
        ratios={"train": 0.8, "val": 0.1, "test": 0.1},
        threshold=0.85,
        age_edges=[0, 24, 60, 96, 145],
        seed=seed,
    )


def test_patient_level_and_ratios():
    out = _split(_records())
    splits_of = defaultdict(set)
    for r in out:
        if r["status"] == "ok":
            splits_of[r["patient_id"]].add(r["split"])
    assert all(len(s) == 1 for s in splits_of.values())
    counts = Counter(next(iter(s)) for s in splits_of.values())
    assert abs(counts["train"] - 0.8 * 199) <= 3 and abs(counts["val"] - 0.1 * 199) <= 3


def test_strata_are_spread_over_splits():
    out = [r for r in _split(_records(400, 1)) if r["status"] == "ok"]
    for split in ("val", "test"):
        part = [r for r in out if r["split"] == split]
        prevalence = sum(r["fracture"] for r in part) / len(part)
        assert abs(prevalence - 2 / 3) < 0.08
        assert 0.4 < sum(r["sex"] == "M" for r in part) / len(part) < 0.6


def test_quality_gate_rejects_with_reason():
    out = quality_gate(_records(10), 0.85)
    bad = [r for r in out if r["status"] == "rejected"]
    assert [r["patient_id"] for r in bad] == ["P005", "P005"]
    assert "quality 0.500 < threshold 0.85" in bad[0]["reason"] and bad[0]["stage"] == "stratify"


def test_quality_gate_names_the_path_under_the_raw_folder():
    """point 6: the user's file name relative to the raw folder"""
    recs = _records(10)
    for r in recs:
        r["source"] = f"export/day1/{r['source']}"
    [bad, _] = [r for r in quality_gate(recs, 0.85) if r["status"] == "rejected"]
    assert bad["reason"].startswith("export/day1/p005_0.dcm: quality")


def test_deterministic_and_seeded():
    a, b, c = _split(_records()), _split(_records()), _split(_records(), seed=7)
    assert a == b
    assert [r.get("split") for r in a] != [r.get("split") for r in c]


def test_keep_mode_honours_folders_and_rejects_loose_files():
    recs = _records(4, 1)
    for r, s in zip(recs, ["train", "val", None, "test"]):
        r["source_split"] = s
    out = stratify(
        recs, mode="keep", ratios={"train": 0.8, "val": 0.1, "test": 0.1}, threshold=0.0, age_edges=[0, 145], seed=1
    )
    assert [r.get("split") for r in out] == ["train", "val", None, "test"]
    assert out[2]["status"] == "rejected" and "train/ val/ test/" in out[2]["reason"]


def test_assign_patients_small_strata_still_balanced():
    strata = {f"P{i}": f"s{i % 37}" for i in range(300)}
    counts = Counter(assign_patients(strata, {"train": 0.8, "val": 0.1, "test": 0.1}, 0).values())
    assert abs(counts["train"] - 240) <= 3 and abs(counts["test"] - 30) <= 3


# ----------------------------------------------------------------------------- point 7: tiny or skewed splits


def _tiny(n=20):
    """The issue's case: 20 images split 80/10/10."""
    recs = _records(n, 1)
    for r in recs:
        r["quality_score"] = 0.95
    return _split(recs)


def test_split_warnings_for_small_splits_and_missing_classes():
    recs = [
        {"status": "ok", "split": s, "fracture": f}
        for s, f in [("train", True)] * 40 + [("train", False)] * 40 + [("val", True)] * 3 + [("test", False)] * 2
    ]
    w = split_warnings(recs, 30)
    assert w == [
        "split val has 3 images (< dataset.stratify.min_split_images 30): metrics on it will be noisy",
        "split val has no normal image (3 fracture)",
        "split test has 2 images (< dataset.stratify.min_split_images 30): metrics on it will be noisy",
        "split test has no fracture image (2 normal)",
    ]
    assert split_warnings(recs, 0) == [w[1], w[3]]
    assert split_warnings([r for r in recs if r["split"] == "train"], 30) == [
        "split val has no images",
        "split test has no images",
    ]


def test_no_warning_for_a_healthy_split():
    assert split_warnings(_split(_records(400, 1)), 30) == []


def test_dataset_metrics_carry_the_warnings():
    recs = [r for r in _tiny() if r["status"] == "ok"]
    log = {"inputs": len(recs), "processed": len(recs), "rejected": 0}
    m = dataset_metrics([{**r, "augmented_from": None} for r in recs], log, 30)
    assert m["split_warnings"] == split_warnings(recs, 30) and m["split_warning_count"] == len(m["split_warnings"]) > 0
    assert any(w.startswith("split test has 2 images") for w in m["split_warnings"])


def test_stratify_stage_logs_the_warnings(tmp_path, capsys):
    recs = _records(20, 1)
    for r in recs:
        r["quality_score"], r["quality"] = 0.95, {}
    (tmp_path / "annotate.json").write_text(json.dumps(recs))
    p = compose(conf_dir=CONF)
    stages.stratify(p, annotated=tmp_path / "annotate.json", out=tmp_path / "split.json", report=tmp_path / "q.json")
    err = capsys.readouterr().err
    assert "stratify: warning: split test has 2 images (< dataset.stratify.min_split_images 30)" in err
    assert "stratify: warning: split val has 2 images" in err


def test_min_split_images_is_checked_up_front():
    cfg = compose(conf_dir=CONF)
    OmegaConf.update(cfg, "dataset.stratify.min_split_images", -1, merge=False)
    with pytest.raises(ConfigError, match=r"'dataset\.stratify\.min_split_images'"):
        validate(cfg)
