from collections import Counter, defaultdict

from radtune.variants.pedirad_8k.stratify import assign_patients, quality_gate, stratify


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
