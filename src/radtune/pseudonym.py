"""Keyed-hash pseudonyms: outputs name patients and images only by HMAC-SHA256 digests."""

from __future__ import annotations

import hashlib
import hmac
import os

from omegaconf import DictConfig


def pseudonym(value: str, key: str, prefix: str = "P", length: int = 12) -> str:
    """A stable pseudonym of `value` under `key`; without the key it cannot be reversed
    or recomputed from a guessed value."""
    digest = hmac.new(key.encode("utf-8"), value.encode("utf-8"), hashlib.sha256).hexdigest()
    return prefix + digest[:length]


def resolve_key(pseudonym_cfg: DictConfig) -> str:
    """The key from the environment variable the config names, else the public demo key."""
    return os.environ.get(pseudonym_cfg.key_env) or pseudonym_cfg.demo_key
