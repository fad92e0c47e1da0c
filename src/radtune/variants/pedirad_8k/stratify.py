"""The stratify stage's library: quality gate, then a split for every kept image.

`stratified` splits at patient level: all images of a patient go to one split, and
patients are spread over the splits within each stratum (age bin x sex x fracture, taken
from the patient's first image) so that every split mirrors the whole. `keep` honours the
train/ val/ test/ folders the inputs came in (leakage-check then verifies them).
`split_warnings` names a split too small to trust or without a class (stage log and
dataset metrics)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from radtune.errors import ConfigError
from radtune.normalize import list_inputs, source_split
from radtune.records import SPLITS, Record, is_ok, reject
from radtune.splits import age_bin, assign_patients, quality_gate

STAGE = "stratify"
MIN_IMAGES_KEY = "dataset.stratify.min_split_images"
MODE_KEY = "dataset.stratify.mode"


def stratum(record: Record, edges: list[int]) -> str:
    return f"{age_bin(record['age_months'], edges)}|{record['sex']}|{'fracture' if record['fracture'] else 'normal'}"


def check_keep_layout(p: DictConfig, *, raw: Path) -> None:
    """`stratify.mode=keep` honours train/ val/ test/ folders: refuse it up front when no input
    is inside one (every image would be rejected at stratify). The rule is normalize's
    (`list_inputs` + `source_split`, which give each record its `source_split`)."""
    if p.dataset.stratify.mode != "keep":
        return
    labels_csv = p.dataset.annotate.labels_csv
    inputs = list_inputs(Path(raw), {labels_csv} if labels_csv else set())
    if inputs and not any(source_split(f.relative_to(raw)) for f in inputs):
        raise ConfigError(
            f"params: '{MODE_KEY}' is 'keep', but none of the {len(inputs)} inputs in {raw} is inside a "
            f"{', '.join(f'{s}/' for s in SPLITS[:-1])} or {SPLITS[-1]}/ folder: use 'stratified' (or sort the "
            "files into those folders)"
        )


def _keep_folder_split(record: Record) -> Record:
    if not record["source_split"]:
        return reject(record, STAGE, f"{record['source']}: not inside a train/ val/ test/ folder (stratify.mode=keep)")
    return {**record, "split": record["source_split"]}


def stratify(
    records: list[Record], *, mode: str, ratios: dict[str, float], threshold: float, age_edges: list[int], seed: int
) -> list[Record]:
    gated = quality_gate(records, threshold)
    kept = [r for r in gated if is_ok(r)]
    if mode == "keep":
        return [_keep_folder_split(r) if is_ok(r) else r for r in gated]
    first_image: dict[str, Record] = {}
    for r in sorted(kept, key=lambda r: r["source"]):
        first_image.setdefault(r["patient_id"], r)
    split_of = assign_patients({p: stratum(r, age_edges) for p, r in first_image.items()}, ratios, seed)
    return [{**r, "split": split_of[r["patient_id"]]} if is_ok(r) else r for r in gated]


def split_warnings(records: list[Record], min_images: int) -> list[str]:
    """One line per split too small for its metrics to mean much (fewer than `min_images`
    images; 0 turns this off), empty, or without a fracture or without a normal image."""
    kept = [r for r in records if is_ok(r) and r.get("split")]
    out = []
    for s in SPLITS:
        part = [r for r in kept if r["split"] == s]
        fractures = sum(bool(r["fracture"]) for r in part)
        if not part:
            out.append(f"split {s} has no images")
            continue
        if len(part) < min_images:
            why = "too few to learn from" if s == "train" else "metrics on it will be noisy"
            out.append(f"split {s} has {len(part)} images (< {MIN_IMAGES_KEY} {min_images}): {why}")
        if fractures == 0:
            out.append(f"split {s} has no fracture image ({len(part)} normal)")
        elif fractures == len(part):
            out.append(f"split {s} has no normal image ({len(part)} fracture)")
    return out
