"""Dataset variants: one package each, `radtune.variants.<name>`, where `<name>` is the stem
of `conf/dataset/<name>.yaml` and the value of `dataset.variant` in params. Each package
exposes `VARIANT`, an instance of `radtune.variants.base.Variant`."""

from __future__ import annotations

import importlib
from pathlib import Path

from radtune.errors import ConfigError
from radtune.variants.base import Variant

HERE = Path(__file__).resolve().parent


def names() -> list[str]:
    """Every variant package, sorted."""
    return sorted(p.name for p in HERE.iterdir() if (p / "__init__.py").is_file())


def get(name: str) -> Variant:
    """The variant called `name`; ConfigError listing the known ones for any other name."""
    known = names()
    if name not in known:
        raise ConfigError(f"params: 'dataset.variant' must be one of {' | '.join(known)}, got {name!r}")
    variant = importlib.import_module(f"radtune.variants.{name}").VARIANT
    if not isinstance(variant, Variant) or variant.name != name:
        raise ConfigError(f"radtune.variants.{name}.VARIANT must be a Variant named {name!r}")
    return variant
