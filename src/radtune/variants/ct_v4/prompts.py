"""ct_v4's export rows: every image of the final 6-class dataset as a chat row.

The answer lists the hemorrhage types present (radtune.variants.ct_v4.targets), plus their boxes when
`export.with_boxes` is set: `{"hemorrhage":true,"types":["IPH","SAH"]}`. Rows are
written by the shared `radtune.export.write_export` (same JSONL fields and registry as
every variant); `image_path` is relative to the data folder, e.g.
`6class_coco/train/<image>.png`. Split names are the pipeline's (train, val, test), the
folders the seed's (train, valid, test)."""

from __future__ import annotations

from pathlib import Path

from radtune.errors import InputRejected
from radtune.export import chat_row, target_text
from radtune.variants.ct_v4.constants import CLASSES, SPLIT_DIRS
from radtune.variants.ct_v4.targets import document_targets
from radtune.variants.ct_v4.validate import load_split


def instruction(with_boxes: bool, box_scale: int | None) -> str:
    text = (
        "Read this head CT slice (brain window). Answer with JSON only, keys: hemorrhage (true/false), "
        f"types (list of the intracranial hemorrhage types present, from {', '.join(CLASSES)})"
    )
    if with_boxes:
        unit = f"0..{box_scale} of the image width/height" if box_scale else "pixels"
        text += f", boxes (list of {{type, bbox [x, y, width, height] in {unit}}})"
    return text + "."


def split_rows(final_dir: Path, final_name: str, split: str, with_boxes: bool, box_scale: int | None) -> list[dict]:
    path = Path(final_dir) / SPLIT_DIRS[split]
    if not path.is_dir():
        raise InputRejected(f"{path}: split folder not found; run the data stages first")
    prompt = instruction(with_boxes, box_scale)
    rows = []
    for t in document_targets(load_split(final_dir, split), with_boxes=with_boxes, box_scale=box_scale):
        rows.append(
            chat_row(
                Path(t["file_name"]).stem,
                f"{final_name}/{SPLIT_DIRS[split]}/{t['file_name']}",
                prompt,
                target_text(t["target"]),
            )
        )
    return sorted(rows, key=lambda r: r["id"])
