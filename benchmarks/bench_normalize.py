"""Throughput of the normalize pixel pipeline vs the naive float/scikit-image baseline.

Run (from the repository root):

    make bench
    # or
    .venv/bin/python benchmarks/bench_normalize.py                  # synthesize 40 pedirad_8k images
    .venv/bin/python benchmarks/bench_normalize.py --n 100 --size 512
    .venv/bin/python benchmarks/bench_normalize.py --src data/raw/pedirad-8k

(a) ours:  radtune.render.render_file + radtune.imaging.encode_image (JPEG), one process;
(b) naive: pydicom pixel_array -> float apply_modality_lut + apply_voi_lut -> min-max to
    0..255 float -> skimage.transform.resize(anti_aliasing=True) to fit size (aspect kept,
    padded) -> Pillow JPEG, the way the seed scripts do it.
Both read the same files from disk; files either side rejects are counted, not timed twice.
Prints a table; it never fails on timing.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def synthesize(out: Path, n: int) -> list[Path]:
    """pedirad_8k via radtune.synth if it exists, else plain 12-bit 2048x1638 DICOMs."""
    try:
        from radtune.synth import generate

        generate("pedirad_8k", out, n=n, seed=0)
        files = sorted(out.rglob("*.dcm"))
        if files:
            return files
    except ImportError as e:  # the generator module is not there (yet)
        print(f"(radtune.synth unavailable: {e}; writing plain phantoms)", file=sys.stderr)
    return _plain_phantoms(out, n)


def _plain_phantoms(out: Path, n: int) -> list[Path]:
    import cv2
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    rng = np.random.default_rng(0)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(n):
        base = cv2.GaussianBlur(rng.random((2048, 1638)), (0, 0), 25)
        arr = np.clip(300 + 3000 * (base - base.min()) / np.ptp(base) + rng.normal(0, 15, base.shape), 0, 4095)
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.set_pixel_data(arr.astype(np.uint16), "MONOCHROME2" if i % 2 else "MONOCHROME1", 12)
        ds.WindowCenter, ds.WindowWidth = 1800, 3000
        p = out / f"img{i:04d}.dcm"
        ds.save_as(p, enforce_file_format=True)
        files.append(p)
    return files


def ours(path: Path, size: int) -> bytes:
    from radtune.imaging import encode_image
    from radtune.render import render_file

    return encode_image(render_file(path, size=size).image, "jpg", 95)


def naive(path: Path, size: int) -> bytes:
    import pydicom
    from PIL import Image
    from pydicom.pixels import apply_modality_lut, apply_voi_lut
    from skimage.transform import resize

    ds = pydicom.dcmread(path)
    arr = ds.pixel_array.astype(np.float64)
    arr = apply_voi_lut(apply_modality_lut(arr, ds), ds)
    arr = (arr - arr.min()) / max(float(np.ptp(arr)), 1e-9) * 255.0
    if ds.PhotometricInterpretation == "MONOCHROME1":
        arr = 255.0 - arr
    h, w = arr.shape
    s = min(size / h, size / w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    small = resize(arr, (nh, nw), anti_aliasing=True, preserve_range=True)
    canvas = np.zeros((size, size), dtype=np.uint8)
    top, left = (size - nh) // 2, (size - nw) // 2
    canvas[top : top + nh, left : left + nw] = np.clip(np.rint(small), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(canvas).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def time_it(fn, files: list[Path], size: int) -> tuple[int, int, float]:
    """(done, failed, seconds) for running fn over files once."""
    done = failed = 0
    t0 = time.perf_counter()
    for f in files:
        try:
            fn(f, size)
            done += 1
        except Exception:  # noqa: BLE001  a benchmark counts failures, it does not judge them
            failed += 1
    return done, failed, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, help="folder of DICOMs (default: synthesize into a temp dir)")
    ap.add_argument("--n", type=int, default=40, help="images to synthesize / use (default 40)")
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        files = sorted(args.src.rglob("*.dcm"))[: args.n] if args.src else synthesize(Path(tmp), args.n)
        if not files:
            print("no .dcm files found", file=sys.stderr)
            return 1
        ours(files[0], args.size), naive(files[0], args.size)  # warm imports / plugin discovery
        rows = [
            ("ours (LUT + cv2)", *time_it(ours, files, args.size)),
            ("naive (float + skimage)", *time_it(naive, files, args.size)),
        ]
    print(f"{'pipeline':26s} {'images':>7s} {'failed':>7s} {'seconds':>9s} {'images/s':>9s}")
    for name, done, failed, secs in rows:
        print(f"{name:26s} {done:7d} {failed:7d} {secs:9.2f} {done / secs if secs else 0:9.1f}")
    (_, d0, _, s0), (_, d1, _, s1) = rows
    if d0 and d1:
        print(f"speed-up: {(d0 / s0) / (d1 / s1):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
