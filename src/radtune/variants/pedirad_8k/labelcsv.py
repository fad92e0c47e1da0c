"""The labels CSV (`dataset.annotate.labels_csv`), read as spreadsheets write it and matched
to the input files.

- UTF-8 with or without a byte-order mark (Excel's "CSV UTF-8"); column names are
  case-insensitive; rows with every cell empty are skipped.
- `filename` is a path relative to the raw folder or a bare file name; matching ignores
  letter case (and accepts `\\` as the folder separator).
- A row that matches no input file is reported (`Matches.notes`). Two or more rows for one
  file: with the same labels they count once (reported); with different labels the file
  is held out with a reason naming the lines (`Matches.conflicts`)."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from radtune.errors import ConfigError

COLUMNS = (
    "filename",
    "bone_age_months",
    "clinical_context",
    "age_months",
    "sex",
    "fracture_type",
    "location",
    "patient_id",
)
MATCHING = "matched case-insensitively as a path relative to the raw folder or a bare file name"


@dataclass(frozen=True)
class Row:
    line: int  # line number in the file (the header is line 1)
    values: dict[str, str]  # lower-case column -> stripped text (`filename` included)

    @property
    def filename(self) -> str:
        return self.values.get("filename", "")


@dataclass(frozen=True)
class LabelsCsv:
    name: str  # the file as the user knows it (relative to the raw folder), for messages
    rows: tuple[Row, ...] = ()


@dataclass
class Matches:
    """The labels CSV against the input files."""

    row_of: dict[str, dict[str, str]] = field(default_factory=dict)  # source -> the values of its row
    conflicts: dict[str, str] = field(default_factory=dict)  # source -> why its rows disagree
    notes: list[str] = field(default_factory=list)  # one line per unmatched row or repeated row
    unmatched: int = 0  # rows that match no input file
    repeated: int = 0  # files named by more than one row


def name_key(name: str) -> str:
    """How a CSV file name and an input path are compared."""
    text = name.strip().replace("\\", "/")
    while text.startswith("./"):
        text = text[2:]
    return text.casefold()


def read_labels_csv(path: Path, name: str | None = None) -> LabelsCsv:
    """The rows of the labels CSV; ConfigError names the file and what is wrong with it."""
    shown = name or Path(path).name
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return LabelsCsv(shown, tuple(_rows(csv.reader(f), path)))
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {e.start}: {e.reason}); save it as 'CSV UTF-8 (comma delimited)'"
        ) from None


def _rows(reader, path: Path) -> Iterable[Row]:
    """Rows of a `csv.reader`, each with the line it starts on."""
    header = next(reader, [])
    columns = [c.strip().lower() for c in header]
    if "filename" not in columns:
        raise ConfigError(f"{path}: labels CSV needs a 'filename' column (has: {', '.join(header)})")
    unknown = sorted({c for c in columns if c} - set(COLUMNS))
    if unknown:
        raise ConfigError(f"{path}: unknown labels CSV column(s) {unknown} (known: {', '.join(COLUMNS)})")
    repeated = sorted({c for c in columns if c and columns.count(c) > 1})
    if repeated:
        raise ConfigError(f"{path}: labels CSV column(s) {repeated} appear more than once (letter case is ignored)")
    line = reader.line_num + 1
    for cells in reader:
        start, line = line, reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue
        if any(c.strip() for c in cells[len(columns) :]):
            raise ConfigError(f"{path} line {start}: {len(cells)} cells but {len(columns)} columns in the header")
        yield Row(start, {c: v.strip() for c, v in zip(columns, cells) if c})


def _index(table: LabelsCsv) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = defaultdict(list)
    for row in table.rows:
        out[name_key(row.filename)].append(row)
    return out


def _rows_for(index: dict[str, list[Row]], source: str) -> list[Row]:
    keys = dict.fromkeys((name_key(source), name_key(PurePosixPath(source).name)))
    return sorted((r for k in keys for r in index.get(k, [])), key=lambda r: r.line)


def _labels(row: Row) -> dict[str, str]:
    return {k: v for k, v in row.values.items() if k != "filename" and v}


def _disagreement(rows: list[Row]) -> str:
    first = _labels(rows[0])
    for other in rows[1:]:
        theirs = _labels(other)
        for col in sorted(set(first) | set(theirs)):
            if first.get(col, "") != theirs.get(col, ""):
                return f"{col} {first.get(col, '')!r} vs {theirs.get(col, '')!r} on line {other.line}"
    return ""


def match(table: LabelsCsv, sources: Iterable[str]) -> Matches:
    """Each input file's row; rows naming no file; files named by several rows."""
    index, out, used = _index(table), Matches(), set()
    for source in sorted(sources):
        rows = _rows_for(index, source)
        used.update(r.line for r in rows)
        if not rows:
            continue
        lines = ", ".join(str(r.line) for r in rows)
        if len(rows) > 1:
            out.repeated += 1
            differ = _disagreement(rows)
            if differ:
                out.conflicts[source] = (
                    f"{table.name} lines {lines} all name this file with different labels ({differ}); keep one row"
                )
                continue
            out.notes.append(f"{table.name} lines {lines} all name {source} (same labels: counted once)")
        out.row_of[source] = rows[0].values
    for row in table.rows:
        if row.line not in used:
            out.unmatched += 1
            what = repr(row.filename) if row.filename else "(empty filename)"
            out.notes.append(f"{table.name} line {row.line}: {what} matches no input file ({MATCHING})")
    return out


def csv_report(table: LabelsCsv, m: Matches) -> list[str]:
    """The stage log's lines about the labels CSV: one per unmatched or repeated row, then
    the counts (rows = matched + unmatched)."""
    n = len(table.rows)
    return [
        *m.notes,
        f"{table.name}: {n} rows: {n - m.unmatched} match an input file, {m.unmatched} match no input file; "
        f"{m.repeated} file(s) named by more than one row ({len(m.conflicts)} with different labels: held out)",
    ]
