"""Interim image shards (issue #13 point 3): few files for DVC to walk, the same bytes for
the same images, plain tar for every other tool, nothing half-written."""

import subprocess
import tarfile

import numpy as np
import pytest

from radtune.imaging import encode_image
from radtune.shards import Shards, ShardWriter


def images(n: int) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    return {f"{i:03d}.png": encode_image(rng.integers(0, 256, (8, 5 + i % 3), np.uint8), "png") for i in range(n)}


def write(folder, items: dict[str, bytes], shard_size: int = 4) -> None:
    with ShardWriter(folder, shard_size) as w:
        for name, data in items.items():
            w.add(name, data)


def test_round_trip_in_order_with_few_files(tmp_path):
    items = images(10)
    write(tmp_path / "s", items)
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [
        "shard-00000.tar",
        "shard-00001.tar",
        "shard-00002.tar",
    ]
    shards = Shards(tmp_path / "s")
    assert shards.names() == list(items) and len(shards) == 10 and "003.png" in shards
    assert all(shards.read(name) == data for name, data in items.items())
    rng = np.random.default_rng(0)
    assert np.array_equal(shards.image("000.png"), rng.integers(0, 256, (8, 5), np.uint8))
    with pytest.raises(FileNotFoundError, match="nope.png: not in the image shards"):
        shards.read("nope.png")


def test_same_images_same_bytes_and_plain_tar(tmp_path):
    items = images(6)
    write(tmp_path / "a", items)
    write(tmp_path / "b", items)
    for name in ("shard-00000.tar", "shard-00001.tar"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    listed = subprocess.run(["tar", "tvf", str(tmp_path / "a/shard-00000.tar")], capture_output=True, text=True)
    assert listed.returncode == 0 and [line.split()[-1] for line in listed.stdout.splitlines()] == list(items)[:4]
    with tarfile.open(tmp_path / "a/shard-00000.tar") as tar:
        assert {(m.mtime, m.uid, m.gid, m.uname, m.mode) for m in tar} == {(0, 0, 0, "", 0o644)}


def test_a_shorter_rerun_removes_stale_shards_and_an_error_keeps_no_partial_shard(tmp_path):
    write(tmp_path / "s", images(10))
    write(tmp_path / "s", images(3))
    assert [p.name for p in (tmp_path / "s").iterdir()] == ["shard-00000.tar"]
    with pytest.raises(RuntimeError), ShardWriter(tmp_path / "t", 4) as w:
        for name, data in images(6).items():
            w.add(name, data)
        raise RuntimeError("stage stopped")
    assert [p.name for p in (tmp_path / "t").iterdir()] == ["shard-00000.tar"]  # the full one; no temp file
    assert len(Shards(tmp_path / "t")) == 4
