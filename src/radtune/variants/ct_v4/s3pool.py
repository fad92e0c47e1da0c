"""S3 access for the no-hemorrhage pool: a boto3 client factory and a local S3 server.

``endpoint: local`` in the config means: start moto's standalone server on 127.0.0.1 (a
free port, the same server dvc-s3's own tests use) and seed the bucket from the synthetic
``bucket/`` folder. Any other endpoint (an URL, or null for AWS) is used as is, with
credentials read from the environment variables the config names.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from omegaconf import DictConfig

LOCAL = "local"
#: moto accepts any credentials; these never leave the machine
LOCAL_CREDENTIALS = ("radtune-local", "radtune-local-secret")


@dataclass(frozen=True)
class S3Target:
    """Where the pool lives: endpoint (None = AWS), bucket, region, credentials (None =
    boto3's default chain)."""

    endpoint_url: str | None
    bucket: str
    region: str
    access_key: str | None = None
    secret_key: str | None = None


def make_client(target: S3Target, *, on_get: Callable[[str], None] | None = None) -> Any:
    """A boto3 S3 client without botocore's own retries (``fetch`` retries with its own
    backoff so every attempt is counted). ``on_get(key)`` is called before every GetObject
    request is sent (tests count downloads with it)."""
    session = boto3.session.Session()
    client = session.client(
        "s3",
        endpoint_url=target.endpoint_url,
        region_name=target.region,
        aws_access_key_id=target.access_key,
        aws_secret_access_key=target.secret_key,
        config=Config(
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
            s3={"addressing_style": "path"},
        ),
    )
    if on_get is not None:

        def _hook(params: dict, **_: Any) -> None:
            on_get(params["Key"])

        client.meta.events.register("before-parameter-build.s3.GetObject", _hook)
    return client


@cache
def client_of(target: S3Target) -> Any:
    """One client per target and process (a Dask worker makes its own, once)."""
    return make_client(target)


def target_from_config(cfg: DictConfig, endpoint_url: str | None = None) -> S3Target:
    """The S3 target of ``fetch`` config; ``endpoint_url`` overrides (used for ``local``)."""
    url = endpoint_url if endpoint_url is not None else cfg.endpoint
    if url == LOCAL:
        raise ValueError("endpoint 'local' must be resolved to the local server's URL first")
    if endpoint_url is not None:
        key, secret = LOCAL_CREDENTIALS
    else:
        key = os.environ.get(cfg.access_key_env) or None
        secret = os.environ.get(cfg.secret_key_env) or None
    return S3Target(endpoint_url=url or None, bucket=cfg.bucket, region=cfg.region, access_key=key, secret_key=secret)


class LocalS3Server:
    """moto's ThreadedMotoServer on 127.0.0.1 and a free port (``url`` once started)."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.url = ""

    def start(self) -> str:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self) -> None:
        self._server.stop()


def seed_bucket(client: Any, bucket: str, folder: Path) -> int:
    """Create ``bucket`` (if needed) and upload every file under ``folder`` with its
    relative POSIX path as key, in sorted order; return the number of objects."""
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)
    files = sorted(p for p in Path(folder).rglob("*") if p.is_file())
    for p in files:
        client.put_object(Bucket=bucket, Key=p.relative_to(folder).as_posix(), Body=p.read_bytes())
    return len(files)


@contextmanager
def local_pool(bucket: str, folder: Path) -> Iterator[str]:
    """A running local S3 server whose ``bucket`` holds ``folder``; yields its URL."""
    server = LocalS3Server()
    url = server.start()
    try:
        seed_bucket(make_client(S3Target(url, bucket, "us-east-1", *LOCAL_CREDENTIALS)), bucket, folder)
        yield url
    finally:
        server.stop()
