"""Interim images in a few tar shards, not one file each.

DVC stats every file of a folder it tracks on every `dvc repro`, once for each stage that
lists the folder (~3.5 s per 100K files here): with one file per normalized image, a no-op
repro walked them three times (normalize's output, annotate's and augment's input). So the
normalize stages write their images into `<folder>/shard-00000.tar`, ... of SHARD_SIZE
images each, in the order they are added (the stage's record order); the published images
stay one file each, in the seeds' layouts.

A shard is a plain ustar archive (`tar tf`, `tar xf` read it) with fixed member metadata,
so the same images in the same order give the same bytes; each shard appears complete or
not at all (`radtune.io.atomic_file`)."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

import numpy as np

from radtune.imaging import decode_image
from radtune.io import atomic_file
from radtune.records import Record
from radtune.stagelog import Tally, stage_log_to

SHARD_SIZE = 256  # images per shard: 100K images make 391 files
PATTERN = "shard-*.tar"
#: a normalize stage's result for one input: its record and its encoded image (None: rejected)
RecordImage = tuple[Record, bytes | None]


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.tar"


class ShardWriter:
    """`with ShardWriter(folder) as w: w.add(name, data)`: writes `folder/shard-NNNNN.tar`
    and, when the block ends, removes the shards of an earlier, longer run."""

    def __init__(self, folder: Path, shard_size: int = SHARD_SIZE) -> None:
        self.folder, self.shard_size = Path(folder), shard_size
        self.count = 0
        self._open = ExitStack()
        self._tar: tarfile.TarFile

    def __enter__(self) -> ShardWriter:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    def add(self, name: str, data: bytes) -> None:
        if self.count % self.shard_size == 0:
            self._close_shard()
            f = self._open.enter_context(atomic_file(self.folder / shard_name(self.count // self.shard_size)))
            self._tar = self._open.enter_context(tarfile.open(fileobj=f, mode="w", format=tarfile.USTAR_FORMAT))
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o644  # mtime, uid, gid, owner names: 0 / empty
        self._tar.addfile(info, io.BytesIO(data))
        self.count += 1

    def kept(self, results: Iterable[RecordImage], suffix: str) -> Iterator[Record]:
        """The records of (record, image bytes or None) results, passed on as they come, each
        image added as `<image_id><suffix>`."""
        each = iter(results)
        try:
            for record, data in each:
                if data is not None:
                    self.add(f"{record['image_id']}{suffix}", data)
                yield record
        finally:  # a stopped run stops the pool / leaves the cluster at once (map_in_order's finally)
            if hasattr(each, "close"):
                each.close()

    def _close_shard(self) -> None:
        self._open.close()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._open.__exit__(kind, exc, tb)  # on an error the open shard is not kept
        if kind is None:
            written = {shard_name(i) for i in range(-(-self.count // self.shard_size))}
            for stale in self.folder.glob(PATTERN):
                if stale.name not in written:
                    stale.unlink()


def write_normalized(out: Path, results: Iterable[RecordImage], suffix: str, stage: str = "normalize") -> Tally:
    """A normalize stage's outputs from its results, in input order: the records streamed to
    `out/records.json` (with the stage's log and counts), each image to the `out/images/`
    shards as `<image_id><suffix>`; returns the counts."""
    with stage_log_to(stage, Path(out) / "records.json") as tally, ShardWriter(Path(out) / "images") as images:
        tally.add(images.kept(results, suffix))
    return tally


class Shards:
    """The images of a shard folder, by member name: `read(name)` -> bytes, `image(name)`
    -> uint8 grey (H, W) or RGB (H, W, 3), as `radtune.imaging.read_image` gives a file."""

    def __init__(self, folder: Path) -> None:
        self.index: dict[str, tuple[Path, int, int]] = {}
        for shard in sorted(Path(folder).glob(PATTERN)):
            with tarfile.open(shard, mode="r:") as tar:
                for m in tar:
                    self.index[m.name] = (shard, m.offset_data, m.size)

    def __contains__(self, name: str) -> bool:
        return name in self.index

    def __len__(self) -> int:
        return len(self.index)

    def names(self) -> list[str]:
        return list(self.index)

    def read(self, name: str) -> bytes:
        try:
            shard, offset, size = self.index[name]
        except KeyError:
            raise FileNotFoundError(f"{name}: not in the image shards") from None
        with open(shard, "rb") as f:
            f.seek(offset)
            return f.read(size)

    def image(self, name: str) -> np.ndarray:
        image = decode_image(self.read(name))
        if image is None:
            raise ValueError(f"{name}: OpenCV cannot decode this image")
        return image
