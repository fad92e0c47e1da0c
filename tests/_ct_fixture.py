"""Shared helpers for the ct_v4 tests: a small synthetic raw set and its config."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

CONF = Path(__file__).resolve().parents[1] / "conf" / "dataset" / "ct_v4.yaml"


def ct_config(**fetch_overrides: object) -> DictConfig:
    """conf/dataset/ct_v4.yaml with every fetched object attempted (small synthetic sets)."""
    cfg = OmegaConf.load(CONF)
    cfg.fetch.max_images = None
    for k, v in fetch_overrides.items():
        cfg.fetch[k] = v
    return cfg
