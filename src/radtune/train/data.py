"""Collator examples from the exported JSONL rows (see radtune.export), used by train,
merge and eval: `examples_from_rows` gives {id, messages, image} dicts with the image
decoded in memory (`load_image`: grayscale or RGB, as stored)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image


def load_image(path: str | Path) -> Image.Image:
    """The image at `path`, decoded: kept as L or RGB, any other mode converted to L."""
    with Image.open(path) as im:
        return im.convert("L") if im.mode not in ("L", "RGB") else im.copy()


def examples_from_rows(rows: Sequence[Mapping[str, Any]], data_dir: str | Path) -> list[dict[str, Any]]:
    """Exported JSONL rows -> collator examples (messages + decoded image, in memory)."""
    return [
        {"id": r["id"], "messages": r["messages"], "image": load_image(Path(data_dir) / r["image_path"])} for r in rows
    ]


def blank_images(examples: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The examples with every image replaced by a black one of the same size and mode (the
    image ablation: what the model answers from the prompt alone)."""
    return [{**e, "image": Image.new(e["image"].mode, e["image"].size, 0)} for e in examples]
