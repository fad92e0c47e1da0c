"""Can a model read bone age from the synthetic pedirad_8k radiographs? A small CNN probe.

Run (from the repository root):

    .venv/bin/python benchmarks/probe_bone_age.py                      # n=600, seed 0, 96/128/192 px
    .venv/bin/python benchmarks/probe_bone_age.py --n 1300 --sizes 96 128
    .venv/bin/python benchmarks/probe_bone_age.py --src data/raw/pedirad-8k

1. Generates a sample (``radtune synth pedirad_8k``; or reads ``--src``) into a temp folder.
2. Renders every file exactly as the pipeline does (``render_file(path, window="file",
   size=512)``), then shrinks it with INTER_AREA to each probe size. Planted bad files
   (``InputRejected``) are skipped and counted.
3. Labels: age and sex from the file name (``parse_filename``), bone age from labels.csv,
   patient = the DICOM PatientID (so the split is patient-level: views of one patient
   never straddle it).
4. For each size, trains a small seeded CNN (CPU) on the train patients to predict
   ``bone_age - chronological_age`` from the image plus the chronological age and sex
   (what the VLM's prompt gives it), and scores the held-out patients:
     * chronological baseline: answer = chronological age;
     * age/sex-only baseline: the same network with a blank image (can the residual be
       guessed without looking?);
     * probe: chronological age + predicted residual.
   MAE (months), the ratio probe / chronological, Pearson r of predicted vs true residual,
   and a patient-level bootstrap 95% interval of the ratio.

Prints a table and exits 0; ``--require-ratio X`` makes it exit 1 when the probe's ratio at
any size is above X (for CI).
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np


def _load_one(path: str) -> tuple[str, np.ndarray | None, str]:
    """(file name, 512 px rendered image or None if rejected, PatientID)."""
    import pydicom

    from radtune.errors import InputRejected
    from radtune.render import render_file

    try:
        image = render_file(Path(path), window="file", size=512).image
    except InputRejected:
        return Path(path).name, None, ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pid = str(pydicom.dcmread(path, stop_before_pixels=True).PatientID)
    return Path(path).name, image, pid


def load_sample(src: Path, workers: int) -> dict[str, np.ndarray]:
    """Rendered images (N, 512, 512) uint8 and labels of every accepted file in ``src``."""
    from radtune.variants.pedirad_8k.labels import parse_filename

    with (src / "labels.csv").open() as f:
        bone_age = {r["filename"]: float(r["bone_age_months"]) for r in csv.DictReader(f)}
    paths = sorted(str(p) for p in src.glob("*.dcm"))
    with ProcessPoolExecutor(max_workers=workers) as ex:
        loaded = list(ex.map(_load_one, paths, chunksize=8))
    keep = [(name, img, pid) for name, img, pid in loaded if img is not None]
    labels = [parse_filename(name) for name, _, _ in keep]
    return {
        "name": np.array([name for name, _, _ in keep]),
        "image": np.stack([img for _, img, _ in keep]),
        "patient": np.array([pid for _, _, pid in keep]),
        "age": np.array([lab.age_months for lab in labels], dtype=np.float64),
        "female": np.array([lab.sex == "F" for lab in labels], dtype=np.float64),
        "bone_age": np.array([bone_age[name] for name, _, _ in keep], dtype=np.float64),
        "rejected": np.array(len(loaded) - len(keep)),
    }


def patient_split(patients: np.ndarray, test_frac: float, seed: int) -> np.ndarray:
    """Boolean test mask: a seeded share of the patients (sorted ids, then permuted)."""
    ids = np.unique(patients)
    perm = np.random.default_rng([seed, 17]).permutation(len(ids))
    test_ids = set(ids[perm[: int(round(test_frac * len(ids)))]].tolist())
    return np.array([p in test_ids for p in patients])


# ----------------------------------------------------------------------------- model


def make_net(torch):
    nn = torch.nn

    def block(cin: int, cout: int) -> list:
        return [
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        ]

    class Probe(nn.Module):
        """Conv features (global mean + max pooled) + [age, age^2, female] -> residual / 10."""

        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(*block(1, 16), *block(16, 32), *block(32, 48), *block(48, 64))
            self.head = nn.Sequential(nn.Linear(128 + 3, 64), nn.ReLU(inplace=True), nn.Linear(64, 1))

        def forward(self, x, tab):
            f = self.features(x)
            pooled = torch.cat([f.mean((2, 3)), f.amax((2, 3))], 1)
            return self.head(torch.cat([pooled, tab], 1)).squeeze(1)

    return Probe()


def _tab(age: np.ndarray, female: np.ndarray):
    a = age / 100.0
    return np.stack([a, a * a, female], 1).astype(np.float32)


def train_and_predict(
    images: np.ndarray, tab: np.ndarray, target: np.ndarray, train: np.ndarray, *, epochs: int, seed: int, blank: bool
) -> np.ndarray:
    """Fit on ``train`` rows, return predictions (months) for every row."""
    import torch

    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(images.astype(np.float32) / 255.0 - 0.3).unsqueeze(1) / 0.25
    if blank:
        x = torch.zeros_like(x)
    t = torch.from_numpy(tab)
    y = torch.from_numpy((target / 10.0).astype(np.float32))
    idx = np.flatnonzero(train)
    net = make_net(torch)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    batch = 32
    steps = epochs * ((len(idx) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.2)
    size = x.shape[-1]
    pad = max(2, size // 32)
    for _ in range(epochs):
        net.train()
        order = torch.from_numpy(idx)[torch.randperm(len(idx), generator=g)]
        for k in range(0, len(order), batch):
            b = order[k : k + batch]
            xb = x[b]
            # augmentation: horizontal flip (left/right hands mirror anyway) and a small shift
            flip = torch.rand(len(b), generator=g) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            dy, dx = (int(v) for v in torch.randint(-pad, pad + 1, (2,), generator=g))
            xb = torch.roll(xb, (dy, dx), (2, 3))
            loss = torch.nn.functional.smooth_l1_loss(net(xb, t[b]), y[b], beta=0.5)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    out = []
    with torch.no_grad():
        for k in range(0, len(x), 64):
            out.append(net(x[k : k + 64], t[k : k + 64]))
    return torch.cat(out).numpy().astype(np.float64) * 10.0


def bootstrap_ratio(err_a: np.ndarray, err_b: np.ndarray, patients: np.ndarray, seed: int) -> tuple[float, float]:
    """Patient-level bootstrap 95% interval of mean(err_a) / mean(err_b)."""
    ids, inv = np.unique(patients, return_inverse=True)
    sa, sb = np.bincount(inv, err_a, len(ids)), np.bincount(inv, err_b, len(ids))
    rng = np.random.default_rng(seed)
    ratios = []
    for _ in range(2000):
        pick = np.bincount(rng.integers(0, len(ids), len(ids)), minlength=len(ids))
        ratios.append((pick @ sa) / max(pick @ sb, 1e-9))
    lo, hi = np.percentile(ratios, [2.5, 97.5])
    return float(lo), float(hi)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0, help="generator seed (and probe seed)")
    ap.add_argument("--src", type=Path, help="use this generated folder instead of generating one")
    ap.add_argument("--sizes", type=int, nargs="+", default=[96, 128, 192])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--test-frac", type=float, default=0.3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-blank", action="store_true", help="skip the blank-image baseline")
    ap.add_argument("--require-ratio", type=float, help="exit 1 if probe/chronological MAE exceeds this")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.workers)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        src = args.src
        if src is None:
            from radtune.synth import generate

            src = Path(tmp) / "pedirad"
            generate("pedirad_8k", src, n=args.n, seed=args.seed)
        t_gen = time.perf_counter() - t0
        data = load_sample(src, args.workers)
    t_load = time.perf_counter() - t0 - t_gen
    test = patient_split(data["patient"], args.test_frac, args.seed)
    train = ~test
    age, ba = data["age"], data["bone_age"]
    resid = ba - age
    tab = _tab(age, data["female"])
    print(
        f"sample: {len(age)} images ({int(data['rejected'])} rejected), {len(np.unique(data['patient']))} patients; "
        f"train {int(train.sum())} / test {int(test.sum())} images; generate {t_gen:.0f}s, render {t_load:.0f}s"
    )
    print(f"bone age - age: mean {resid.mean():+.1f}, sd {resid.std():.1f} months (all images)")
    base_err = np.abs(resid[test])
    rows = []
    blank_err = None
    if not args.no_blank:
        tb = time.perf_counter()
        small = np.zeros((len(age), 16, 16), dtype=np.uint8)
        pred = train_and_predict(small, tab, resid, train, epochs=args.epochs, seed=args.seed, blank=True)
        blank_err = np.abs(resid[test] - pred[test])
        print(f"age/sex only (blank image): MAE {blank_err.mean():.2f} ({time.perf_counter() - tb:.0f}s)")
    worst = 0.0
    for size in args.sizes:
        ts = time.perf_counter()
        imgs = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in data["image"]])
        pred = train_and_predict(imgs, tab, resid, train, epochs=args.epochs, seed=args.seed, blank=False)
        err = np.abs(resid[test] - pred[test])
        r = float(np.corrcoef(pred[test], resid[test])[0, 1])
        r_ba = float(np.corrcoef(age[test] + pred[test], ba[test])[0, 1])
        lo, hi = bootstrap_ratio(err, base_err, data["patient"][test], args.seed)
        ratio = float(err.mean() / base_err.mean())
        worst = max(worst, ratio)
        rows.append((size, base_err.mean(), err.mean(), ratio, lo, hi, r, r_ba, time.perf_counter() - ts))
    print()
    print("| px | chrono MAE | probe MAE | ratio (95% CI) | r(resid) | r(bone age) | train s |")
    print("|---:|---:|---:|---|---:|---:|---:|")
    for size, b, p, ratio, lo, hi, r, r_ba, sec in rows:
        print(f"| {size} | {b:.2f} | {p:.2f} | {ratio:.2f} ({lo:.2f}-{hi:.2f}) | {r:.2f} | {r_ba:.3f} | {sec:.0f} |")
    print(f"\ntotal {time.perf_counter() - t0:.0f}s")
    if args.require_ratio is not None and worst > args.require_ratio:
        print(f"FAIL: probe / chronological MAE {worst:.2f} > {args.require_ratio}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
