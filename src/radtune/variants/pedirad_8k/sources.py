"""The input file each published image came from, as the user named it: its path relative
to the raw folder, from the processing log (leakage-check lines and eval's predictions)."""

from __future__ import annotations


def source_names(published: list[dict], log: dict) -> dict[str, str]:
    """image_id -> the input file it came from (relative to the raw folder), from the
    processing log; augmented copies name their original's file."""
    source = {e["image_id"]: e["source"] for e in log["files"] if e["image_id"]}
    out = {}
    for r in published:
        original = r.get("augmented_from") or r["image_id"]
        if original in source:
            out[r["image_id"]] = source[original] + (" (augmented copy)" if r.get("augmented_from") else "")
    return out
