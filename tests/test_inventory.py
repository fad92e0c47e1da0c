"""The raw folder is hashed once per run, by fetch: normalize takes each input's SHA-256
from fetch's inventory (the same records as hashing again) and refuses an inventory that is
older than the raw folder, naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from radtune.errors import ConfigError
from radtune.inventory import Digests, inventory, write_inventory
from radtune.io import file_sha256
from radtune.normalize import NormalizeSettings, list_inputs, normalize_to
from radtune.records import read_records
from radtune.synth import generate

SETTINGS = NormalizeSettings(size=128, window="file", auto_percentiles=(1.0, 99.0), jpeg_quality=95, key="k")


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    raw = tmp_path / "raw"
    generate("pedirad_8k", raw, n=4, seed=3)
    write_inventory(raw, tmp_path / "fetched")
    return raw


def test_digests_from_the_inventory_give_the_records_of_hashing_again(raw: Path, tmp_path: Path) -> None:
    files = list_inputs(raw, {"labels.csv"})
    digests = Digests(tmp_path / "fetched", raw)
    assert [digests.digest(f) for f in files] == [file_sha256(f) for f in files]
    normalize_to(tmp_path / "hashed", files, raw, SETTINGS, jobs=1)
    normalize_to(tmp_path / "listed", files, raw, SETTINGS, jobs=1, digests=digests)
    assert (tmp_path / "listed" / "records.json").read_bytes() == (tmp_path / "hashed" / "records.json").read_bytes()
    assert len(read_records(tmp_path / "listed" / "records.json")) == len(files)


def test_an_inventory_older_than_the_raw_folder_is_refused(raw: Path, tmp_path: Path) -> None:
    first = sorted(raw.glob("*.dcm"))[0]
    first.write_bytes(first.read_bytes() + b"\0\0")
    (raw / "late.dcm").write_bytes(first.read_bytes())
    digests = Digests(tmp_path / "fetched", raw)
    stale = f"inventory.json: older than the raw folder \\({first.name} has another size now\\)"
    with pytest.raises(ConfigError, match=stale):
        digests.digest(first)
    with pytest.raises(ConfigError, match=r"\(late.dcm is not in it\); rerun fetch"):
        normalize_to(tmp_path / "out", list_inputs(raw, {"labels.csv"}), raw, SETTINGS, jobs=1, digests=digests)


def test_the_inventory_hashed_in_two_processes_is_the_same(raw: Path) -> None:
    assert inventory(raw, jobs=2) == inventory(raw, jobs=1)
