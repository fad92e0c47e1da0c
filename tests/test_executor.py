"""normalize past one machine (issue #13 point 4): on a Dask cluster (here a LocalCluster of
two worker processes) the records and image bytes equal the local run's; an input whose task
raises, or kills its worker, becomes a rejection with a one-line reason; counts add up."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import dask
import pytest
from distributed import LocalCluster
from distributed.diagnostics.plugin import WorkerPlugin

from radtune import executor
from radtune.errors import ConfigError
from radtune.executor import written_here
from radtune.normalize import NormalizeSettings, list_inputs, normalize_to
from radtune.records import read_records
from radtune.shards import Shards
from radtune.synth import dicom_writer, generate

SETTINGS = NormalizeSettings(size=256, window="file", auto_percentiles=(1.0, 99.0), jpeg_quality=95, key="k")


@contextmanager
def cluster(**scheduler_config: object):
    with dask.config.set({f"distributed.scheduler.{k}": v for k, v in scheduler_config.items()}):
        with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as c:
            yield c


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 synthetic radiographs, one of them also cut short, and a file that is no image."""
    raw = tmp_path_factory.mktemp("dask") / "raw"
    generate("pedirad_8k", raw, n=8, seed=7)
    first = sorted(raw.glob("*.dcm"))[0]
    (raw / "corrupt.dcm").write_bytes(dicom_writer.truncated(first.read_bytes()))
    (raw / "notes.txt").write_text("not an image\n")
    return raw


@pytest.fixture(scope="module")
def files(raw: Path) -> list[Path]:
    return list_inputs(raw, {"labels.csv"})


@pytest.fixture(scope="module")
def local(raw: Path, files: list[Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], Path]:
    out = tmp_path_factory.mktemp("local")
    normalize_to(out, files, raw, SETTINGS, jobs=1)
    return read_records(out / "records.json"), out


def files_in(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_dask_gives_the_local_records_and_bytes(
    raw: Path, files: list[Path], local, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records, local_out = local
    with cluster() as c:
        monkeypatch.chdir(tmp_path)  # relative paths, as a stage gets them; the workers started elsewhere
        rel, rel_raw = [Path(os.path.relpath(f)) for f in files], Path(os.path.relpath(raw))
        normalize_to(Path("out"), rel, rel_raw, SETTINGS, 1, "dask", c.scheduler_address)
        assert "normalize_item" in c.scheduler.task_prefixes  # the work ran on the cluster's workers
    on_dask = read_records(tmp_path / "out/records.json")
    assert on_dask == records
    assert [r["source"] for r in on_dask] == [f.relative_to(raw).as_posix() for f in files]  # input order
    rejected = {r["source"]: r["reason"] for r in on_dask if r["status"] == "rejected"}
    assert sorted(rejected) == ["corrupt.dcm", "notes.txt"]
    assert files_in(tmp_path / "out") == files_in(local_out)  # records.json and the image shards
    assert len(Shards(local_out / "images")) == len(files) - 2


class Sabotage(WorkerPlugin):
    """On every worker (restarted ones too): reading `raises` fails, reading `dies` kills the process."""

    def __init__(self, raises: str, dies: str) -> None:
        self.raises, self.dies = raises, dies

    def setup(self, worker: object) -> None:
        import radtune.normalize as n

        original = n.source_split

        def source_split(relative: Path) -> str | None:
            if relative.as_posix() == self.raises:
                raise OSError("disk full (test)")
            if relative.as_posix() == self.dies:
                os._exit(1)
            return original(relative)

        n.source_split = source_split


def test_a_task_that_raises_or_kills_its_worker_is_a_rejection(raw: Path, files: list[Path], local, tmp_path: Path):
    records, local_out = local
    raises, dies = (f.relative_to(raw).as_posix() for f in files[2:4])
    # a dead worker's task fails at once (no retry on another worker), and a worker holds only
    # the task it runs, so no bystander dies with it
    with cluster(**{"allowed-failures": 0, "worker-saturation": 1.0}) as c:
        from distributed import Client

        with Client(c) as client:
            client.register_plugin(Sabotage(raises, dies))
            normalize_to(tmp_path, files, raw, SETTINGS, 1, "dask", c.scheduler_address)
    on_dask = read_records(tmp_path / "records.json")
    assert len(on_dask) == len(files)
    by_source = {r["source"]: r for r in on_dask}
    assert by_source[raises]["reason"] == f"{raises}: unexpected OSError: disk full (test)"
    assert by_source[dies]["reason"].startswith(f"{dies}: the Dask workers running it died")
    for name in (raises, dies):
        r, expected = by_source[name], next(x for x in records if x["source"] == name)
        assert r["status"] == "rejected" and r["stage"] == "normalize" and "\n" not in r["reason"]
        assert {k: r[k] for k in ("source_sha256", "source_split", "image_id")} == {
            k: expected[k] for k in ("source_sha256", "source_split", "image_id")
        }
    assert [r for r in on_dask if r["source"] not in (raises, dies)] == [
        r for r in records if r["source"] not in (raises, dies)
    ]
    shards, local_shards = Shards(tmp_path / "images"), Shards(local_out / "images")
    assert shards.names() == [f"{r['image_id']}.jpg" for r in on_dask if r["status"] == "ok"]
    assert all(shards.read(name) == local_shards.read(name) for name in shards.names())


def _parse(text: str) -> int:
    if text == "stop":
        raise ConfigError("a setting")
    return int(text)


@pytest.mark.parametrize("jobs", [1, 2])
def test_local_failures_are_per_item_too(jobs: int) -> None:
    out = list(executor.map_in_order(_parse, ["1", "x", "3"], jobs=jobs, on_error=lambda i, e: executor.describe(e)))
    assert out == [1, "unexpected ValueError: invalid literal for int() with base 10: 'x'", 3]
    with pytest.raises(ConfigError):
        list(executor.map_in_order(_parse, ["1", "stop"], jobs=jobs, on_error=lambda i, e: None))


def _memory_kept(_: int) -> bool:
    return executor.keep_freed_memory.cache_info().currsize == 1 and executor.keep_freed_memory()


@pytest.mark.parametrize("jobs", [1, 2])
def test_local_workers_keep_freed_memory(jobs: int) -> None:
    """Every local worker (this process for jobs 1) has glibc keep freed blocks (mallopt
    said yes) before its first item."""
    assert list(executor.map_in_order(_memory_kept, [0, 1], jobs=jobs, on_error=lambda i, e: e)) == [True, True]


def _opencv_threads(_: int) -> int:
    import cv2

    return cv2.getNumThreads()


def test_pool_workers_share_the_cores_with_opencv() -> None:
    """Two local workers each let OpenCV use half the cores (not all of them each)."""
    share = max(1, executor.cores() // 2)
    assert list(executor.map_in_order(_opencv_threads, [0, 1, 2], jobs=2, on_error=lambda i, e: e)) == [share] * 3


def test_no_scheduler_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executor, "CONNECT_SECONDS", 1)
    with pytest.raises(ConfigError, match="dask_scheduler: no Dask scheduler answers at tcp://127.0.0.1:9"):
        list(executor.map_in_order(int, ["1"], executor="dask", address="tcp://127.0.0.1:9", on_error=print))


def test_files_a_worker_kept_on_its_own_disk_stop_the_stage(tmp_path: Path) -> None:
    """On Dask, an output the workers wrote must be visible here (shared storage): one line
    naming the first missing file, after every result was handed on."""
    (tmp_path / "a.jpg").write_bytes(b"x")
    results = [{"image_id": "a"}, {"image_id": "b"}, {"image_id": "c"}]
    where = lambda r: tmp_path / f"{r['image_id']}.jpg"  # noqa: E731
    assert list(written_here(results, where, "local", "images")) == results  # local: never checked
    seen = []
    with pytest.raises(ConfigError, match=r"2 images the workers wrote are not on this machine \(first: .*b\.jpg\)"):
        seen.extend(written_here(results, where, "dask", "images"))
    assert seen == results
