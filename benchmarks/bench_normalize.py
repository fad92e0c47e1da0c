"""Throughput of normalize's pixel path per input kind, next to the tools a user would try.

Run (from the repository root):

    make bench                                             # every kind, default sizes
    .venv/bin/python benchmarks/bench_normalize.py --n 40 --kinds uncompressed,rle
    .venv/bin/python benchmarks/bench_normalize.py --src data/raw/pedirad-8k --n 200
    .venv/bin/python benchmarks/bench_normalize.py --record benchmarks/RESULTS.md

Input kinds (synthesized into a temp dir, the same files for every pipeline): 2048x1638
12-bit radiograph phantoms (MONOCHROME1 and 2) uncompressed, RLE, JPEG Lossless (Process
14 SV1), JPEG-LS and JPEG 2000 lossless; plus the pedirad_8k synthetic sample (mixed
syntaxes, VOI LUTs) or a folder of your own (``--src``).

Pipelines, each over the same files, one process, output a 512x512 8-bit JPEG:

* ``decode floor``: pydicom reads the pixel data (the fastest installed decoder) -- nothing
  can be faster;
* ``radtune``: ``radtune.render.render_file`` + ``radtune.imaging.encode_image``, what the
  normalize stage runs per file (window, letterbox, quality score, encode), in a process
  set up as the stage's workers are (``radtune.executor.keep_freed_memory``);
* ``naive script``: what the seeds' scripts do -- pydicom pixel_array -> float modality and
  VOI LUT -> min-max to 0..255 -> scikit-image anti-aliased resize -> Pillow JPEG;
* ``dcmtk dcmj2pnm`` (if installed): one ``dcmj2pnm`` process per file, first header
  window, scaled to 512 wide, JPEG -- dcmtk cannot decode JPEG 2000 (counted as failed);
* ``MONAI`` (if installed): LoadImage -> ScaleIntensity -> Resize -> Pillow JPEG.

Each pipeline runs in its own process pinned to one CPU (``os.sched_setaffinity``; a
subprocess such as dcmj2pnm inherits it), so "per core" means one core: OpenCV's and
numpy's own threads cannot borrow the second (unpinned, radtune's INTER_AREA resize ran on
1.34 cores). Peak RSS is that process's; images/s and the ratios are from this one run. A
final table scales the normalize stage's own ``normalize_to`` from 1 process on one core to
2 processes on two. It never fails on timing.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import mdtable  # this folder: benchmarks/

SIZE = 512
KINDS = ("uncompressed", "rle", "jpeg-lossless", "jpeg-ls", "j2k", "pedirad")
#: a kind's default file count: JPEG 2000 decodes at ~3/s, so fewer files
DEFAULT_N = {"j2k": 8}


# ----------------------------------------------------------------------------- inputs
def phantom(i: int, rows: int = 2048, cols: int = 1638) -> np.ndarray:
    """A 12-bit radiograph-like phantom: soft tissue, two bones, noise, a collimated edge."""
    rng = np.random.default_rng(i)
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    cx = cols * (0.45 + 0.1 * rng.random())
    soft = np.exp(-(((x - cx) / (cols * 0.22)) ** 4))
    bone = sum(np.exp(-(((x - cx + d) / (cols * 0.05)) ** 6)) for d in (-cols * 0.08, cols * 0.08))
    img = 3600 - 1800 * soft - 900 * bone * (y > rows * 0.1) + rng.normal(0, 25, (rows, cols)).astype(np.float32)
    img[:, : int(cols * 0.04)] = 200  # collimator shutter
    return np.clip(img, 0, 4095).astype(np.uint16)


def write_phantoms(out: Path, n: int) -> list[Path]:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    out.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(n):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.Modality, ds.PatientID = "DX", f"BENCH{i:04d}"
        arr = phantom(i)
        if i % 2:  # MONOCHROME1 as CR plates store it
            ds.set_pixel_data(4095 - arr, "MONOCHROME1", 12)
        else:
            ds.set_pixel_data(arr, "MONOCHROME2", 12)
        ds.WindowCenter, ds.WindowWidth = (2300, 3200) if i % 2 == 0 else (1795, 3200)
        p = out / f"img{i:04d}.dcm"
        ds.save_as(p, enforce_file_format=True)
        files.append(p)
    return files


def encode_as(files: list[Path], out: Path, kind: str) -> list[Path]:
    """The same images in another transfer syntax (pydicom / GDCM encoders)."""
    import pydicom
    from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

    from radtune.synth.transcode import gdcm_transcode

    out.mkdir(parents=True, exist_ok=True)
    done = []
    for f in files:
        dst = out / f.name
        if kind == "jpeg-lossless":
            gdcm_transcode(f, dst, "jpeg-lossless-sv1")
        else:
            ds = pydicom.dcmread(f)
            uid = {"rle": RLELossless, "jpeg-ls": JPEGLSLossless, "j2k": JPEG2000Lossless}[kind]
            ds.compress(uid, encoding_plugin="pylibjpeg" if kind != "jpeg-ls" else "")
            ds.save_as(dst, enforce_file_format=True)
        done.append(dst)
    return done


def inputs(kind: str, tmp: Path, n: int, src: Path | None) -> list[Path]:
    if kind == "pedirad":
        if src is not None:
            return sorted(src.rglob("*.dcm"))[:n]
        from radtune.synth import generate

        generate("pedirad_8k", tmp / "pedirad", n=n, seed=0)
        return sorted((tmp / "pedirad").rglob("*.dcm"))[:n]
    native = sorted((tmp / "uncompressed").glob("*.dcm"))[:n]
    if len(native) < n:
        native = write_phantoms(tmp / "uncompressed", n)
    return native if kind == "uncompressed" else encode_as(native, tmp / kind, kind)


# ----------------------------------------------------------------------------- pipelines
def decode_floor(path: Path, out: Path) -> None:
    import pydicom

    from radtune.pixels.decode import decoding_plugin

    ds = pydicom.dcmread(path)
    pydicom.pixels.pixel_array(ds, decoding_plugin=decoding_plugin(ds.file_meta.TransferSyntaxUID))


def radtune_path(path: Path, out: Path) -> None:
    from radtune.executor import keep_freed_memory
    from radtune.imaging import encode_image
    from radtune.render import render_file

    keep_freed_memory()  # as the stage's workers are set up (once per process)
    out.write_bytes(encode_image(render_file(path, size=SIZE).image, "jpg", 95))


def naive(path: Path, out: Path) -> None:
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
    s = min(SIZE / h, SIZE / w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    small = resize(arr, (nh, nw), anti_aliasing=True, preserve_range=True)
    canvas = np.zeros((SIZE, SIZE), dtype=np.uint8)
    top, left = (SIZE - nh) // 2, (SIZE - nw) // 2
    canvas[top : top + nh, left : left + nw] = np.clip(np.rint(small), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(canvas).save(buf, format="JPEG", quality=95)
    out.write_bytes(buf.getvalue())


def dcmj2pnm(path: Path, out: Path) -> None:
    """dcmj2pnm (JPEG, RLE, uncompressed), first header window, 512 wide, JPEG; JPEG-LS goes
    to its sibling dcml2pnm, which writes PNG (it has no JPEG writer)."""
    import pydicom

    ts = pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
    tool, fmt = ("dcml2pnm", ["+on"]) if "JPEG-LS" in ts.name else ("dcmj2pnm", ["+oj", "+Jq", "95"])
    subprocess.run([tool, "+Wi", "1", "+Sxv", str(SIZE), *fmt, str(path), str(out)], check=True, capture_output=True)


def monai(path: Path, out: Path) -> None:
    from monai.transforms import LoadImage, Resize, ScaleIntensity
    from PIL import Image

    img = LoadImage(image_only=True)(str(path))
    img = ScaleIntensity()(Resize((SIZE, SIZE))(img[None]))[0]
    Image.fromarray((np.asarray(img) * 255).astype(np.uint8)).save(out, format="JPEG", quality=95)


def available() -> dict:
    pipes = {"decode floor": decode_floor, "radtune": radtune_path, "naive script": naive}
    if shutil.which("dcmj2pnm"):
        pipes["dcmtk dcmj2pnm"] = dcmj2pnm
    try:
        import monai  # noqa: F401

        pipes["MONAI"] = monai
    except ImportError:
        pass
    return pipes


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would carry the parent's peak
    over fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_core() -> None:
    """Pin this process (and what it starts) to the first CPU it may use."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _run(name: str, files: list[str], out_dir: str, queue) -> None:
    warnings.simplefilter("ignore")
    one_core()
    fn = available()[name]
    out = Path(out_dir)
    try:
        fn(Path(files[0]), out / "warm.jpg")  # imports, plugin discovery
    except Exception:  # noqa: BLE001  counted below, file by file
        pass
    done = failed = 0
    t0 = time.perf_counter()
    for i, f in enumerate(files):
        try:
            fn(Path(f), out / f"{i}.jpg")
            done += 1
        except Exception:  # noqa: BLE001  a benchmark counts failures, it does not judge them
            failed += 1
    secs = time.perf_counter() - t0
    queue.put((done, failed, secs, peak_rss_mib()))


def run(name: str, files: list[Path], tmp: Path) -> tuple[int, int, float, float]:
    """(done, failed, seconds, peak RSS MiB) of one pipeline in a fresh process."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    out = Path(tempfile.mkdtemp(dir=tmp))
    proc = ctx.Process(target=_run, args=(name, [str(f) for f in files], str(out), queue))
    proc.start()
    result = _result(proc, queue, fallback=(0, len(files), 0.0, 0.0))
    shutil.rmtree(out, ignore_errors=True)
    return result


def _result(proc, queue, fallback):
    """The child's result, or ``fallback`` when it died without one (a decoder crash)."""
    import queue as q

    while True:
        try:
            result = queue.get(timeout=1.0)
            break
        except q.Empty:
            if not proc.is_alive():
                result = fallback
                break
    proc.join()
    return result


def table(kind: str, files: list[Path], tmp: Path) -> list[str]:
    rows = {name: run(name, files, tmp) for name in available()}
    rate = {k: d / s if s and d else 0.0 for k, (d, _, s, _) in rows.items()}
    cells = []
    for name, (_, failed, _, rss) in rows.items():
        vs = f"{rate['radtune'] / rate[name]:.2f}x" if rate[name] else "-"
        floor = f"{rate['decode floor'] / rate[name]:.2f}" if rate[name] else "-"
        cells.append((name, f"{rate[name]:.1f}", failed, f"{rss:.0f}", vs, floor))
    columns = ["pipeline", "images/s", "failed", "peak RSS MiB", "radtune is x this", "this / floor"]
    return [f"### {kind}: {len(files)} files", "", *mdtable.table(columns, cells), ""]


def _jobs_run(files: list[str], out_dir: str, jobs: int, queue) -> None:
    from radtune.normalize import NormalizeSettings, normalize_to

    settings = NormalizeSettings(size=SIZE, window="file", auto_percentiles=(1.0, 99.0), jpeg_quality=95, key="k")
    paths = [Path(f) for f in files]
    if jobs == 1:
        one_core()
    t0 = time.perf_counter()
    normalize_to(Path(out_dir), paths, paths[0].parent, settings, jobs)
    queue.put(time.perf_counter() - t0)


def jobs_table(files: list[Path], tmp: Path) -> list[str]:
    """normalize_to (the stage's own pool): 1 process on one core, 2 processes on two."""
    ctx = mp.get_context("spawn")
    secs = {}
    for jobs in (1, 2):
        queue, out = ctx.Queue(), Path(tempfile.mkdtemp(dir=tmp))
        proc = ctx.Process(target=_jobs_run, args=([str(f) for f in files], str(out), jobs, queue))
        proc.start()
        secs[jobs] = _result(proc, queue, fallback=float("nan"))
    cells = [(j, f"{len(files) / s:.1f}", f"{secs[1] / s:.2f}x") for j, s in secs.items()]
    title = f"### normalize_to, {len(files)} files (uncompressed 2K), {os.cpu_count()} cores"
    return [title, "", *mdtable.table(["jobs", "images/s", "speed-up"], cells), ""]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of {', '.join(KINDS)}")
    ap.add_argument("--n", type=int, default=40, help="files per kind (JPEG 2000: at most 8 unless --n is lower)")
    ap.add_argument("--src", type=Path, help="a folder of your own DICOMs for the 'pedirad' kind")
    ap.add_argument("--record", type=Path, help="also write the tables to this Markdown file")
    args = ap.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    if unknown := set(kinds) - set(KINDS):
        ap.error(f"--kinds: unknown {sorted(unknown)}; choose from {', '.join(KINDS)}")
    warnings.simplefilter("ignore")
    out = [f"## normalize throughput, one core per pipeline (pinned), {time.strftime('%Y-%m-%d')}", ""]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for kind in kinds:
            files = inputs(kind, tmp, min(args.n, DEFAULT_N.get(kind, args.n)), args.src)
            lines = table(kind, files, tmp)
            print("\n".join(lines), flush=True)
            out += lines
        if "uncompressed" in kinds:
            # enough files that the pool's start (two interpreters importing radtune, ~0.5 s) is
            # not the story: with 4x --n files it took a quarter of the 2-job run (1.62x)
            lines = jobs_table(inputs("uncompressed", tmp, 16 * args.n, None), tmp)
            print("\n".join(lines), flush=True)
            out += lines
    if args.record:
        args.record.write_text("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
