"""How long does a no-op `dvc repro` take at 100K images? (issue #13 point 3)

Run (from the repository root):

    .venv/bin/python benchmarks/bench_noop.py                 # 100,000 images
    .venv/bin/python benchmarks/bench_noop.py --n 5000 20000

For each count, in a throwaway copy of the pipeline (as the tests make one): pedirad-8k's own
generator writes that many files (its plan: patients, views, labels, planted bad files,
transfer syntaxes), each rendered small (160 x 128 px: the per-image pixel cost is not what
is measured here), with `dataset.normalize.size` 64 and
`dataset.leakage.near_duplicate_min_correlation` 1.0 (at that size distinct children's hands
look alike: only identical thumbnails count as near-duplicates). `dvc repro export-jsonl`
builds the data stages once (timed), then runs again with nothing to do (timed: the no-op).
Beside it, DVC's own cost for the same count: a two-stage toy pipeline whose first stage
writes one folder of that many files and whose second depends on it, repro'd twice. Prints
a table; never fails on a number.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from mdtable import table  # noqa: E402  (this folder: benchmarks/)
from pipeline_repo import dvc, make_repo, run  # noqa: E402
from radtune.io import write_bytes_atomic  # noqa: E402
from radtune.variants.pedirad_8k import synth  # noqa: E402

ROWS, COLS = 160, 128
SETTINGS = {"dataset.normalize.size": 64, "dataset.leakage.near_duplicate_min_correlation": 1.0}
RAW = Path("data/raw/pedirad-8k")


def _write(args: tuple[synth.ImageSpec, Path]) -> None:
    spec, out = args
    write_bytes_atomic(out / spec.name, synth.file_bytes(spec, 0))


def write_small_raw(out: Path, n: int) -> None:
    """pedirad-8k's files for `n` images (seed 0), every image 160 x 128, + labels.csv."""
    specs = [dataclasses.replace(s, rows=ROWS, cols=COLS) for s in synth.plan(n, 0)]
    out.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(2) as ex:
        list(ex.map(_write, [(s, out) for s in specs], chunksize=256))
    write_bytes_atomic(out / synth.LABELS_CSV, synth.labels_csv(specs).encode())


def timed(args: list[str], repo: Path) -> float:
    t0 = time.perf_counter()
    dvc(args, repo)
    return time.perf_counter() - t0


def toy_noop(repo: Path, n: int) -> float:
    """DVC alone: stage `make` writes `n` files into one folder, stage `use` depends on it."""
    repo.mkdir(parents=True)
    run(["git", "init", "-q"], repo)
    dvc(["init", "-q"], repo)
    writer = f"import os; os.makedirs('many'); [open(f'many/{{i}}.txt', 'w').write(str(i)) for i in range({n})]"
    (repo / "dvc.yaml").write_text(
        "stages:\n"
        f'  make:\n    cmd: python -c "{writer}"\n    outs: [many]\n'
        "  use:\n    cmd: python -c \"import os; open('count', 'w').write(str(len(os.listdir('many'))))\"\n"
        "    deps: [many]\n    outs: [count]\n"
    )
    dvc(["repro", "-q"], repo)
    return timed(["repro", "-q"], repo)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[100_000])
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.n:
            repo = make_repo(Path(tmp) / f"repo{n}", SETTINGS | {"dataset.synth.n": n})
            t0 = time.perf_counter()
            write_small_raw(repo / RAW, n)
            made = time.perf_counter() - t0
            build = timed(["repro", "-q", "export-jsonl"], repo)
            noop = timed(["repro", "-q", "export-jsonl"], repo)
            toy = toy_noop(Path(tmp) / f"toy{n}", n)
            rows.append((n, made, build, noop, toy))
            print(f"n={n}: files {made:.0f} s, data stages {build:.0f} s, no-op {noop:.2f} s, toy no-op {toy:.2f} s")
    columns = ["images", "data stages, first run", "no-op `dvc repro export-jsonl`", "DVC alone: toy 2-stage no-op"]
    cells = [(n, f"{build:.0f} s", f"{noop:.2f} s", f"{toy:.2f} s") for n, _, build, noop, toy in rows]
    print("\n".join(table(columns, cells)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
