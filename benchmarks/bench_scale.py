"""Does normalize's memory stay flat as the number of images grows?

Run (from the repository root):

    .venv/bin/python benchmarks/bench_scale.py               # 1,000 vs 10,000 small DICOMs
    .venv/bin/python benchmarks/bench_scale.py --n 1000 5000 20000 --jobs 2

Writes small (64x64, 12-bit) DICOM radiographs -- the per-image cost is not what is measured
here -- and runs the normalize stage's own ``normalize_to`` (records streamed to
records.json) over each count in a fresh process, printing images/s and the peak RSS of
that process and its workers, with the ratio to the smallest count. It never fails on a number.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mdtable import table  # this folder: benchmarks/


def write_small(out: Path, n: int) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    base = Dataset()
    base.file_meta = FileMetaDataset()
    base.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    base.SOPClassUID = base.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    base.Modality = "DX"
    for i in range(len(list(out.glob("*.dcm"))), n):
        base.PatientID = f"P{i:06d}"
        base.SOPInstanceUID = base.file_meta.MediaStorageSOPInstanceUID = f"1.2.826.0.1.3680043.8.498.{i + 1}"
        base.set_pixel_data((rng.random((64, 64)) * 4000).astype(np.uint16), "MONOCHROME2", 12)
        base.save_as(out / f"img{i:06d}.dcm", enforce_file_format=True)


def _run(raw: str, n: int, jobs: int, queue) -> None:
    from bench_normalize import peak_rss_mib  # noqa: I001  (this folder: benchmarks/)
    from radtune.normalize import NormalizeSettings, normalize_to

    files = sorted(Path(raw).glob("*.dcm"))[:n]
    settings = NormalizeSettings(size=64, window="file", auto_percentiles=(1.0, 99.0), jpeg_quality=95, key="k")
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        done = normalize_to(Path(out), files, Path(raw), settings, jobs)
        secs = time.perf_counter() - t0
    own = peak_rss_mib()
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    queue.put((done.inputs, secs, own, workers))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args(argv)
    ctx = mp.get_context("spawn")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw"
        for n in sorted(args.n):
            write_small(raw, n)
            queue = ctx.Queue()
            proc = ctx.Process(target=_run, args=(str(raw), n, args.jobs, queue))
            proc.start()
            rows.append((n, *queue.get()))
            proc.join()
    columns = ["images", "images/s", "peak RSS MiB (stage)", "(largest worker)", f"vs {rows[0][0]}"]
    cells = [
        (n, f"{done / secs:.0f}", f"{own:.0f}", f"{workers:.0f}", f"{own / rows[0][3]:.2f}x")
        for n, done, secs, own, workers in rows
    ]
    print("\n".join(table(columns, cells)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
