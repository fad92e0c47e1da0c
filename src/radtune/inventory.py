"""The fetch stage of a variant whose inputs are already local: an inventory of the raw
folder (every file, its size and sha256), so a run records exactly what it read."""

from __future__ import annotations

import hashlib
from pathlib import Path


def inventory(raw_dir: Path) -> dict:
    files = sorted(p for p in raw_dir.rglob("*") if p.is_file())
    entries = [{"path": p.relative_to(raw_dir).as_posix(), "size": p.stat().st_size,
                "sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for p in files]
    return {"source": "local raw folder (nothing to download)", "files": len(entries),
            "bytes": sum(e["size"] for e in entries), "entries": entries}
