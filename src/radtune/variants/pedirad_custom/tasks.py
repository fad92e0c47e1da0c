"""The three tasks of pedirad-custom (seed 001) and where their published files go.

Each task is a top-level folder of the raw inputs (the seed's names) and of the published
dataset: processed/<task>/<split>/<image_id>.jpg, annotations/<task>/<split>_annotations.json."""

from __future__ import annotations

from pathlib import Path

from radtune.io import read_json
from radtune.records import SPLITS

TASKS = ("bone_age", "rop_screening", "fractures")
#: the training mixes over tasks (`dataset.mix`, radtune.variants.pedirad_custom.prompts.mixed)
MIXES = ("proportional", "balanced")
#: ROP grades (International Classification of ROP): zones from posterior to peripheral, stages 0 (none) to 5
ZONES = ("I", "II", "III")
STAGES = (0, 1, 2, 3, 4, 5)


def annotations_file(annotations_dir: Path, task: str, split: str) -> Path:
    return Path(annotations_dir) / task / f"{split}_annotations.json"


def task_of(source: str) -> str | None:
    """The task of an input, from its path relative to the raw folder (None: no task folder)."""
    top = source.split("/", 1)[0]
    return top if top in TASKS and "/" in source else None


def published_records(annotations_dir: Path) -> list[dict]:
    """Every published record, all tasks and splits."""
    return [r for t in TASKS for s in SPLITS for r in read_json(annotations_file(annotations_dir, t, s))]
