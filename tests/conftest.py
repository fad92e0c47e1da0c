"""Test order for `make test` (two xdist workers, whole modules each: --dist loadfile).

The slow modules (a `dvc repro` or a training run as their fixture, 20-80 s each) go first,
so that the short ones fill in at the end; with pytest-xdist's default order (modules with
the most tests first, `--no-loadscope-reorder` turns it off) the long fixtures came last and
one worker ran them while the other sat idle."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: file order otherwise
