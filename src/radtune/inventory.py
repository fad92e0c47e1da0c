"""Every fetch stage writes an inventory of the raw folder (every file, its size and
sha256), so a run records exactly what it read; for a variant whose inputs are all local
it is the whole of fetch. The stages after fetch depend on the raw folder through it
(dvc.yaml), so DVC walks the raw files once per `dvc repro`, for fetch, not once per stage."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from radtune.errors import ConfigError
from radtune.executor import map_in_order, reraise
from radtune.io import file_sha256, read_json, write_json

INVENTORY = "inventory.json"


def _entry(path: Path, raw_dir: Path) -> dict:
    return {"path": path.relative_to(raw_dir).as_posix(), "size": path.stat().st_size, "sha256": file_sha256(path)}


def inventory(raw_dir: Path, jobs: int = 1) -> dict:
    """Every file under `raw_dir` with its size and SHA-256 (hashed in `jobs` local processes)."""
    files = sorted(p for p in raw_dir.rglob("*") if p.is_file())
    hashed = map_in_order(
        partial(_entry, raw_dir=raw_dir), files, on_error=reraise, jobs=jobs, desc="fetch", unit="file"
    )
    entries = list(hashed)
    return {
        "source": "the local raw folder",
        "files": len(entries),
        "bytes": sum(e["size"] for e in entries),
        "entries": entries,
    }


def write_inventory(raw_dir: Path, out_dir: Path, jobs: int = 1) -> dict:
    """`<out_dir>/inventory.json` of `raw_dir`, and its summary line."""
    inv = inventory(Path(raw_dir), jobs)
    write_json(Path(out_dir) / INVENTORY, inv)
    print(f"fetch: {inv['files']} local inputs ({inv['bytes'] / 1e6:.0f} MB) in the inventory")
    return inv


class Digests:
    """The SHA-256 fetch took of each raw file (`<fetched>/inventory.json`), for the stages
    after it: the raw folder is hashed once per run, by fetch. ``digest(path)`` refuses a
    file the inventory does not describe (not listed, or another size): the inventory is
    older than the raw folder, which `dvc repro` never lets happen (fetch reruns first)."""

    def __init__(self, fetched: Path, raw_dir: Path):
        self.source = Path(fetched) / INVENTORY
        self.raw_dir = Path(raw_dir)
        self.entries = {e["path"]: (e["size"], e["sha256"]) for e in read_json(self.source)["entries"]}

    def digest(self, path: Path) -> str:
        relative = Path(path).relative_to(self.raw_dir).as_posix()
        size, sha = self.entries.get(relative, (None, None))
        if size != Path(path).stat().st_size:
            why = "is not in it" if sha is None else "has another size now"
            raise ConfigError(f"{self.source}: older than the raw folder ({relative} {why}); rerun fetch (`dvc repro`)")
        return sha
