"""Loading the exported JSONL (see radtune.export) as Hugging Face datasets.

    from radtune.data import load_dataset
    ds = load_dataset("train", data_root="data/<dataset>")   # a variant's dataset.data_dir
    ds[0]["prompt"], ds[0]["target"], ds[0]["image_path"]

`image_path` in the returned dataset is ABSOLUTE (resolved against `data_root`), so rows
can be used from any working directory; the JSONL files themselves keep it relative to
the data folder. `messages` is the chat-format pair; `target` the answer as JSON text."""

from __future__ import annotations

from pathlib import Path

import datasets

from radtune.io import read_jsonl
from radtune.records import SPLITS


def jsonl_path(split: str, data_root: str | Path) -> Path:
    return Path(data_root) / "jsonl" / f"{split}.jsonl"


def load_rows(split: str, data_root: str | Path) -> list[dict]:
    """The split's rows as dicts, image_path made absolute."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    path = jsonl_path(split, data_root)
    if not path.exists():
        raise FileNotFoundError(f"{path}: not found; run the export-jsonl stage (dvc repro export-jsonl)")
    root = Path(data_root).resolve()
    return [{**r, "image_path": str(root / r["image_path"])} for r in read_jsonl(path)]


def load_dataset(split: str, data_root: str | Path) -> datasets.Dataset:
    """A `datasets.Dataset` with columns id, image_path (absolute), prompt, target, messages."""
    return datasets.Dataset.from_list(load_rows(split, data_root))
