"""The ct_v4 data stages end to end on a small synthetic set (local S3 server included)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest

from _ct_fixture import ct_config
from pipeline_repo import dvc, make_repo
from radtune.imaging import read_image
from radtune.pseudonym import pseudonym, resolve_key
from radtune.render import render_file
from radtune.synth import generate
from radtune.variants.ct_v4 import publish, stages
from radtune.variants.ct_v4.constants import SPLIT_DIRS, SPLITS
from radtune.variants.ct_v4.normalize import normalize_one
from radtune.variants.ct_v4.targets import dataset_targets
from radtune.variants.ct_v4.validate import exit_code, validate

pytestmark = pytest.mark.slow  # one dvc repro (`make test` keeps a module on one worker)

SEED = 42


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The ct_v4 data stages and export-jsonl through dvc.yaml and the stage scripts, on a small
    synthetic set (every pool object attempted, answers with boxes)."""
    repo = make_repo(
        tmp_path_factory.mktemp("ctpipe") / "repo",
        {"dataset.synth.n": 300, "dataset.fetch.max_images": None, "export.with_boxes": True},
        overrides=["dataset=ct_v4"],
    )
    raw, d = repo / "data/raw/ct-v4", repo / "data/ct-v4"
    generate("ct_v4", raw, n=300, seed=11)
    dvc(["repro", "export-jsonl"], repo)
    records = json.loads((d / "normalized/records.json").read_text())
    ok = sum(r["status"] == "ok" for r in records)
    return {
        "repo": repo,
        "raw": raw,
        "d": d,
        "cfg": ct_config(),
        "fetch": json.loads((d / "fetched/fetch_log.json").read_text())["summary"],
        "normalize": {"inputs": len(records), "ok": ok, "rejected": len(records) - ok},
        "annotate": json.loads((d / "annotated/annotate_log.json").read_text())["totals"],
        "stratify": json.loads((d / "balance_report.json").read_text()),
        "report": json.loads((d / "validation_report.json").read_text()),
        "analysis": json.loads((d / "metadata/analysis.json").read_text()),
    }


def digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def split_docs(root: Path) -> dict[str, dict]:
    return {s: json.loads((root / SPLIT_DIRS[s] / "_annotations.coco.json").read_text()) for s in SPLITS}


def test_all_nine_checks_pass(run: dict) -> None:
    report = run["report"]
    assert [c["id"] for c in report["checks"]] == list(range(1, 10))
    assert report["passed"], [c for c in report["checks"] if not c["passed"]]
    assert exit_code(report) == 0


def test_second_repro_does_nothing(run: dict) -> None:
    r = dvc(["status", "export-jsonl"], run["repo"])
    assert "changed" not in r.stdout, r.stdout


def test_counts_add_up(run: dict) -> None:
    raw_files = sum(1 for src in ("v3/images", "roboflow/images") for p in (run["raw"] / src).rglob("*") if p.is_file())
    assert run["normalize"]["inputs"] == raw_files + run["fetch"]["succeeded"]
    a = run["annotate"]
    assert a["images_in"] == a["images_kept"] + a["images_dropped"]
    assert a["annotations_in"] == a["annotations_kept"] + a["annotations_dropped"]
    assert a["images_dropped"] == 1 and a["boxes_clipped"] >= 1
    st = run["stratify"]
    pool_used = sum(st["distributed"].values())
    assert pool_used + len(st["unused"]) == st["pool"]["available"]
    merged = json.loads((run["d"] / "annotated/merged.coco.json").read_text())
    assert sum(st["before"][s]["images"] for s in SPLITS) == len(merged["images"])
    six = split_docs(run["d"] / "6class_coco")
    assert len(six["train"]["images"]) == 3 * st["after"]["train"]["images"]
    assert [len(six[s]["images"]) for s in ("val", "test")] == [st["after"][s]["images"] for s in ("val", "test")]
    assert [im["id"] for im in six["train"]["images"]][:3] == [1, 2, 3]
    assert min(a["id"] for a in six["train"]["annotations"]) == 1


def test_shared_patient_lands_in_one_split(run: dict) -> None:
    def pids(folder: Path) -> set[str]:
        return {pydicom.dcmread(p, stop_before_pixels=True).PatientID for p in folder.rglob("*.dcm")}

    (shared,) = pids(run["raw"] / "v3/images") & pids(run["raw"] / "roboflow/images")
    pseudo = pseudonym(shared, resolve_key(run["cfg"].pseudonym))
    merged = json.loads((run["d"] / "annotated/merged.coco.json").read_text())
    assert {im["origin"] for im in merged["images"] if im["patient_id"] == pseudo} == {"v3", "roboflow"}
    six = split_docs(run["d"] / "6class_coco")
    assert sum(any(im["patient_id"] == pseudo for im in six[s]["images"]) for s in SPLITS) == 1


def test_no_phi_in_outputs(run: dict) -> None:
    phi: set[str] = set()
    for p in run["raw"].rglob("*.dcm"):
        try:
            ds = pydicom.dcmread(p, stop_before_pixels=True)
        except pydicom.errors.InvalidDicomError:
            continue
        phi |= {
            str(ds.PatientID),
            str(ds.PatientName),
            str(ds.AccessionNumber),
            str(ds.StudyInstanceUID),
            str(ds.PatientBirthDate),
            p.stem if len(p.stem) >= 8 else "",
        }  # bucket stems are "1", "2"...
    phi.discard("")
    d = run["d"]
    outputs = [
        *d.glob("annotated/*.json"),
        *d.glob("splits/*.json"),
        *d.glob("*class_coco/*/_annotations.coco.json"),
        *d.glob("metadata/*"),
        d / "validation_report.json",
    ]
    assert len(outputs) > 10
    for path in outputs:
        text = path.read_text()
        leaked = [v for v in phi if v in text]
        assert not leaked, (path, leaked[:3])


def test_four_class_links_and_filter(run: dict) -> None:
    four = split_docs(run["d"] / "4class_coco")
    assert [c["name"] for c in four["train"]["categories"]] == ["IPH", "IVH", "SAH", "SDH"]
    link = run["d"] / "4class_coco/valid" / four["val"]["images"][0]["file_name"]
    assert link.is_symlink() and os.readlink(link).startswith("../../6class_coco/valid/")
    assert link.read_bytes() == (run["d"] / "6class_coco/valid" / link.name).read_bytes()


def test_deterministic_rerun(run: dict, tmp_path: Path) -> None:
    d, cfg = run["d"], run["cfg"]
    stages.stage_stratify(cfg, annotated_dir=d / "annotated", out_dir=tmp_path / "splits", seed=SEED)
    assert digest(tmp_path / "splits") == digest(d / "splits")
    publish.stage_augment(
        cfg, splits_dir=d / "splits", normalized_dir=d / "normalized", out_dir=tmp_path / "six", seed=SEED
    )
    assert digest(tmp_path / "six") == digest(d / "6class_coco")


def test_augmented_boxes_follow_the_blood(run: dict) -> None:
    """In augmented copies the boxes still sit on hyperdense (white in the brain window) blood."""
    six = split_docs(run["d"] / "6class_coco")["train"]
    by_img = {im["id"]: im for im in six["images"]}
    scores = []
    for a in six["annotations"][:400]:
        im = by_img[a["image_id"]]
        if not im["augmented_from"]:
            continue
        img = read_image(run["d"] / "6class_coco/train" / im["file_name"])
        x, y, w, h = (int(round(v)) for v in a["bbox"])
        scores.append((img[y : y + h, x : x + w] >= 200).mean() if w and h else 0)
    assert len(scores) > 20 and np.median(scores) > 0.2


def test_validation_fails_on_a_broken_image(run: dict, tmp_path: Path) -> None:
    six = tmp_path / "six"
    shutil.copytree(run["d"] / "6class_coco", six)
    victim = next((six / "test").glob("*.png"))
    victim.write_bytes(b"not a png")
    report = validate(six, run["d"] / "4class_coco")
    failed = [c["id"] for c in report["checks"] if not c["passed"]]
    assert 4 in failed and exit_code(report) == 1


def test_normalize_on_dask_gives_the_local_records_and_images(run: dict, tmp_path: Path) -> None:
    """executor: dask (a LocalCluster of two worker processes): the bytes the local pool wrote."""
    from distributed import LocalCluster

    d = run["d"]
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as c:
        stages.stage_normalize(
            run["cfg"],
            raw_dir=run["raw"],
            fetched_dir=d / "fetched",
            out_dir=tmp_path / "normalized",
            executor="dask",
            address=c.scheduler_address,
        )
        assert "normalize_input" in c.scheduler.task_prefixes
    assert digest(tmp_path / "normalized") == digest(d / "normalized")


def test_rgb3_normalize(run: dict, tmp_path: Path) -> None:
    src = next((run["raw"] / "v3/images").glob("*.dcm"))
    rec, png = normalize_one(src, "v3/x.dcm", mode="rgb3", window="brain", size=0, key="k")
    (tmp_path / "x.png").write_bytes(png)
    img = read_image(tmp_path / "x.png")
    assert rec["status"] == "ok" and img.shape == (256, 256, 3)
    for ch, w in enumerate(("brain", "subdural", "bone")):
        assert np.array_equal(img[..., ch], render_file(src, window=w, size=0).image)


def test_vlm_targets(run: dict) -> None:
    rows = dataset_targets(run["d"] / "6class_coco", with_boxes=True)
    six = split_docs(run["d"] / "6class_coco")
    for s in SPLITS:
        n_boxes = {im["file_name"]: 0 for im in six[s]["images"]}
        for a in six[s]["annotations"]:
            n_boxes[next(im["file_name"] for im in six[s]["images"] if im["id"] == a["image_id"])] += (
                1 if s == "test" else 0
            )
        assert len(rows[s]) == len(six[s]["images"])
        for r in rows[s]:
            t = r["target"]
            assert list(t) == ["hemorrhage", "types", "boxes"]
            assert t["hemorrhage"] == bool(t["types"]) == bool(t["boxes"])
            assert t["types"] == sorted(
                {b["type"] for b in t["boxes"]}, key=["EDH", "HC", "IPH", "IVH", "SAH", "SDH"].index
            )
            if s == "test":
                assert len(t["boxes"]) == n_boxes[r["file_name"]]
    plain = dataset_targets(run["d"] / "6class_coco")["test"][0]["target"]
    assert list(plain) == ["hemorrhage", "types"]


def test_export_jsonl_for_the_vlm(run: dict) -> None:
    import yaml

    from radtune.io import read_jsonl

    d = run["d"]
    counts = {s: len(read_jsonl(d / "jsonl" / f"{s}.jsonl")) for s in SPLITS}
    six = split_docs(d / "6class_coco")
    assert counts == {s: len(six[s]["images"]) for s in SPLITS}
    for s in SPLITS:
        rows = read_jsonl(d / "jsonl" / f"{s}.jsonl")
        assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
        for r in rows:
            assert (d / r["image_path"]).is_file() and r["image_path"].startswith(f"6class_coco/{SPLIT_DIRS[s]}/")
            t = json.loads(r["target"])
            assert list(t) == ["hemorrhage", "types", "boxes"]
            assert r["messages"][1]["content"][0]["text"] == r["target"] and "boxes" in r["prompt"]
    entry = yaml.safe_load((d / "dataset_registry.yml").read_text())["datasets"][0]
    assert entry["id"] == "ct-v4" and entry["counts"] == counts
    assert entry["hemorrhage_counts"]["train"] == sum(
        json.loads(r["target"])["hemorrhage"] for r in read_jsonl(d / "jsonl" / "train.jsonl")
    )


def test_prediction_sources_name_the_input_set_not_the_file(run: dict) -> None:
    """#11 point 9: eval's predictions name where each image came from; for ct_v4 that is the
    input set (v3, roboflow, pool), never a DICOM file name (which can carry identifiers)."""
    from radtune import variants
    from radtune.params import load_params

    names = variants.get("ct_v4").source_names(load_params(run["repo"] / "params.yaml"), data_dir=run["d"])
    test_ids = [json.loads(line)["id"] for line in (run["d"] / "jsonl/test.jsonl").read_text().splitlines()]
    assert test_ids and set(test_ids) <= names.keys()
    assert {names[i] for i in test_ids} <= {"v3", "roboflow", "pool"}
    assert any(v.endswith("(augmented copy)") for v in names.values())
