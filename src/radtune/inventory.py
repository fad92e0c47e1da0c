"""Every fetch stage writes an inventory of the raw folder (every file, its size and
sha256), so a run records exactly what it read; for a variant whose inputs are all local
it is the whole of fetch. The stages after fetch depend on the raw folder through it
(dvc.yaml), so DVC walks the raw files once per `dvc repro`, for fetch, not once per stage."""

from __future__ import annotations

from pathlib import Path

from radtune.io import file_sha256, write_json


def inventory(raw_dir: Path) -> dict:
    files = sorted(p for p in raw_dir.rglob("*") if p.is_file())
    entries = [
        {
            "path": p.relative_to(raw_dir).as_posix(),
            "size": p.stat().st_size,
            "sha256": file_sha256(p),
        }
        for p in files
    ]
    return {
        "source": "the local raw folder",
        "files": len(entries),
        "bytes": sum(e["size"] for e in entries),
        "entries": entries,
    }


def write_inventory(raw_dir: Path, out_dir: Path) -> dict:
    """`<out_dir>/inventory.json` of `raw_dir`, and its summary line."""
    inv = inventory(Path(raw_dir))
    write_json(Path(out_dir) / "inventory.json", inv)
    print(f"fetch: {inv['files']} local inputs ({inv['bytes'] / 1e6:.0f} MB) in the inventory")
    return inv
