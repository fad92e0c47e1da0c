"""The Markdown tables the benchmarks print (and benchmarks/RESULTS.md records)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def row(cells: Iterable[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def header(columns: Sequence[str]) -> list[str]:
    """The column names and the alignment row: the first column left, the others (numbers) right."""
    return [row(columns), row(["---", *["---:"] * (len(columns) - 1)])]


def table(columns: Sequence[str], rows: Iterable[Iterable[object]]) -> list[str]:
    return [*header(columns), *map(row, rows)]
