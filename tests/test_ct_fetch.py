"""fetch against a local S3 server: order, thickness filter, rejects, retries, resume."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from _ct_fixture import CONF, ct_config
from radtune.synth import generate
from radtune.variants.ct_v4 import fetch
from radtune.variants.ct_v4.s3pool import local_pool
from radtune.variants.ct_v4.stages import stage_fetch

BUCKET = "ct-no-hemorrhage"


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ctfetch") / "raw"
    generate("ct_v4", out, n=50, seed=5)
    return out


@pytest.fixture(scope="module")
def server(raw: Path):
    """A local S3 server used as a *remote* endpoint: credentials come from the env vars."""
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY", "AWS_SECRET_KEY")}
    os.environ.update({"AWS_ACCESS_KEY": "test", "AWS_SECRET_KEY": "test"})
    with local_pool(BUCKET, raw / "bucket") as url:
        yield url
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def files(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((out / "dicom").iterdir())}


@pytest.fixture(scope="module")
def clean_run(raw: Path, server: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("clean")
    gets: list[str] = []
    stage_fetch(ct_config(endpoint=server), raw_dir=raw, out_dir=out, on_get=gets.append)
    return out, gets


def test_summary_order_and_rejects(raw: Path, clean_run: tuple[Path, list[str]]) -> None:
    out, gets = clean_run
    log = json.loads((out / "fetch_log.json").read_text())
    objs = log["objects"]
    feedback = [o["feedback"] for o in objs]
    assert feedback == sorted(feedback)  # all FP before any TN
    assert gets == [o["key"] for o in objs]  # one GET per object, in plan order
    s = log["summary"]
    assert s["succeeded"] + s["skipped_thickness"] + s["failed"] == s["total_attempted"] == len(objs)
    reasons = sorted(o["reason"] for o in objs if o["status"] == "rejected")
    assert len(reasons) == 2
    assert reasons[0].startswith("(7FE0,0010) Pixel Data")  # the truncated object
    assert reasons[1].startswith("not a DICOM file")
    skipped = [o for o in objs if o["status"] == "skipped"]
    assert skipped and all(o["thickness"] not in (5.0, 5.5) for o in skipped)
    assert sorted(files(out)) == sorted(o["file"] for o in objs if o["status"] == "ok")
    assert not list((out / "dicom").glob(".*"))


def test_max_images_and_fp_only(raw: Path) -> None:
    entries = fetch.read_feedback_csv(raw / "metadata/no_hemorrhage_feedback.csv")
    plan = fetch.plan(entries, 5)
    assert len(plan) == 5 and [e.feedback for e in plan][:2] == ["FP", "FP"]
    assert all(e.feedback == "FP" for e in fetch.plan(entries, None, fp_only=True))


def test_interrupted_run_resumes_without_repeated_gets(raw: Path, server: str, clean_run, tmp_path: Path) -> None:
    out = tmp_path / "out"
    calls = {"n": 0}

    def boom(_: dict) -> None:
        calls["n"] += 1
        if calls["n"] == 9:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stage_fetch(ct_config(endpoint=server), raw_dir=raw, out_dir=out, after_each=boom)
    before = set(files(out))
    assert 0 < len(before) < len(files(clean_run[0]))
    gets: list[str] = []
    stage_fetch(ct_config(endpoint=server), raw_dir=raw, out_dir=out, on_get=gets.append)
    assert files(out) == files(clean_run[0])
    assert not {fetch.local_name(k) for k in gets} & before  # finished objects never fetched again
    assert len(gets) == len(clean_run[1]) - 9  # the 9 decided objects are not requested again
    assert (out / "fetch_log.json").read_bytes() == (clean_run[0] / "fetch_log.json").read_bytes()
    gets.clear()
    stage_fetch(ct_config(endpoint=server), raw_dir=raw, out_dir=out, on_get=gets.append)
    assert gets == []  # a finished run requests nothing


def test_killed_process_resumes(raw: Path, server: str, clean_run, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    code = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from omegaconf import OmegaConf
        from radtune.variants.ct_v4.stages import stage_fetch
        cfg = OmegaConf.load({str(CONF)!r})
        cfg.fetch.max_images = None
        cfg.fetch.endpoint = {server!r}
        stage_fetch(cfg, raw_dir=Path({str(raw)!r}), out_dir=Path({str(out)!r}), after_each=lambda o: time.sleep(0.15))
    """)
    env = {**os.environ, "AWS_ACCESS_KEY": "x", "AWS_SECRET_KEY": "y"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and len(list((out / "dicom").glob("*.dcm"))) < 6:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.name for p in (out / "dicom").glob("*.dcm")}
    assert 6 <= len(before) < len(files(clean_run[0]))
    gets: list[str] = []
    stage_fetch(ct_config(endpoint=server), raw_dir=raw, out_dir=out, on_get=gets.append)
    assert files(out) == files(clean_run[0])
    assert not {fetch.local_name(k) for k in gets} & before


def test_fetch_on_dask_gives_the_local_files_and_log(
    raw: Path, server: str, clean_run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """executor dask: the workers download with their own credentials (none travel with the
    tasks); same files, same fetch_log.json bytes. Without credentials on the workers the
    stage stops with one line, instead of failing every object."""
    from distributed import LocalCluster

    from radtune.errors import ConfigError

    def on_dask(out: Path) -> dict:
        with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as c:
            cfg = ct_config(endpoint=server)
            return stage_fetch(cfg, raw_dir=raw, out_dir=out, executor="dask", address=c.scheduler_address)

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")  # the workers' environment (inherited as they start)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    on_dask(tmp_path / "dask")
    assert files(tmp_path / "dask") == files(clean_run[0])
    assert (tmp_path / "dask" / "fetch_log.json").read_bytes() == (clean_run[0] / "fetch_log.json").read_bytes()
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(ConfigError, match="on every Dask worker"):
        on_dask(tmp_path / "no_credentials")


def test_retries_with_exponential_backoff(tmp_path: Path) -> None:
    class Flaky:
        def __init__(self) -> None:
            self.n = 0

        def get_object(self, Bucket: str, Key: str) -> dict:  # noqa: N803  (boto3's names)
            self.n += 1
            if self.n < 3:
                from botocore.exceptions import EndpointConnectionError

                raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
            import io

            return {"Body": io.BytesIO(b"data")}

    waits: list[float] = []
    client = Flaky()
    fetch.download_with_retries(client, "b", "k", tmp_path / "x", retries=4, backoff=0.5, sleep=waits.append)
    assert waits == [0.5, 1.0] and (tmp_path / "x").read_bytes() == b"data"
    waits.clear()
    with pytest.raises(fetch.TransientError):
        fetch.download_with_retries(Flaky(), "b", "k", tmp_path / "y", retries=1, backoff=0.5, sleep=waits.append)
    assert waits == [0.5] and not (tmp_path / "y").exists()
