"""Quality score: calibration on radiograph-like phantoms, component behaviour, the anatomy
mask. (Exports of the synthetic sample as users bring them: test_quality_exports.py.)"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from radtune import quality
from radtune.quality import anatomy_mask, measures
from radtune.render import render_file
from test_pixels import make_dicom


def radiograph(shape=(1024, 820), lo=300.0, hi=3500.0, noise=12.0, blur=1.0, seed=0) -> np.ndarray:
    """A hand-radiograph-like 12-bit phantom in detector units: dark background, soft
    tissue, five bones with bright cortex; Gaussian noise; optional blur."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    att = np.zeros(shape)
    att[((xx - w * 0.5) / (w * 0.32)) ** 2 + ((yy - h * 0.55) / (h * 0.42)) ** 2 < 1] = 0.35
    for i in range(5):
        x0 = np.abs(xx - w * (0.3 + 0.1 * i))
        rod = (x0 < w * 0.025) & (yy > h * (0.2 + 0.03 * i)) & (yy < h * 0.85)
        att[rod] += 0.35
        att[rod & (x0 > w * 0.015)] += 0.3
    img = lo + (hi - lo) * cv2.GaussianBlur(att, (0, 0), 2.0)
    if blur > 0:
        img = cv2.GaussianBlur(img, (0, 0), blur)
    img = img + rng.normal(0, noise, shape)
    return np.clip(np.rint(img), 0, 4095).astype(np.uint16)


def _score(tmp_path: Path, name: str, photometric: str = "MONOCHROME2", **kw) -> dict:
    p = make_dicom(tmp_path / f"{name}.dcm", radiograph(**kw), photometric, 12)
    return render_file(p).quality


@pytest.mark.parametrize("photometric", ["MONOCHROME1", "MONOCHROME2"])
def test_well_exposed_scores_high(tmp_path, photometric):
    q = _score(tmp_path, "good", photometric)
    assert q["score"] >= 0.9, q
    assert tuple(q["components"]) == quality.COMPONENTS
    assert all(0.0 <= v <= 1.0 for v in q["components"].values())
    # the documented product
    assert q["score"] == pytest.approx(float(np.prod(list(q["components"].values()))), abs=2e-4)
    assert q["detail"] == "" or all(k in quality.COMPONENTS for k in [p.split()[0] for p in q["detail"].split(", ")])


def test_underexposed_scores_low(tmp_path):
    # stored values confined to ~40..300 of 4095 (anatomy spread < 8%), relatively strong
    # noise, no window in the header
    q = _score(tmp_path, "under", lo=40, hi=300, noise=15)
    assert q["measures"]["spread"] < 0.08
    assert q["score"] < 0.5, q
    assert q["components"]["exposure"] < 0.3
    assert q["detail"].startswith("exposure 0.00 (anatomy spans ") and "detector range 0..4095" in q["detail"]


@pytest.mark.parametrize("border", [0, 4095])
def test_underexposed_with_constant_border_still_low(tmp_path, border):
    arr = radiograph(lo=40, hi=300, noise=15)
    arr[:, :150] = border  # collimation / unexposed border must not fake a wide spread
    p = make_dicom(tmp_path / "ub.dcm", arr, "MONOCHROME2", 12)
    q = render_file(p).quality
    assert q["measures"]["spread"] < 0.08 and q["score"] < 0.5, q


@pytest.mark.parametrize("border", [0, 4095])
def test_good_with_collimation_border_stays_high(tmp_path, border):
    arr = radiograph()
    arr[:, :120] = border  # a shutter band: neither anatomy nor clipped anatomy
    arr[-90:, :] = border
    p = make_dicom(tmp_path / "gb.dcm", arr, "MONOCHROME2", 12)
    q = render_file(p).quality
    assert q["score"] >= 0.9 and q["measures"]["clipped_low"] + q["measures"]["clipped_high"] < 0.1, q


def test_blur_lowers_sharpness(tmp_path):
    sharp = _score(tmp_path, "sharp", blur=0.5)
    blurred = _score(tmp_path, "blurred", blur=10.0)  # 5 px at the 512 analysis size
    assert blurred["components"]["sharpness"] < sharp["components"]["sharpness"] - 0.3
    assert blurred["score"] < sharp["score"]
    assert "sharpness" in blurred["detail"]


def test_edge_width_recovers_the_blur():
    # a vertical step blurred with sigma s: the measure is s (its definition)
    step = np.zeros((128, 128))
    step[:, 64:] = 200.0
    mask = np.ones(step.shape, bool)
    for s in (2.0, 3.0, 4.0):
        img = np.clip(np.rint(cv2.GaussianBlur(step, (0, 0), s) + 20), 0, 255).astype(np.uint8)
        assert measures.edge_width(img, mask) == pytest.approx(s, rel=0.15)


def _at_offset(arr: np.ndarray, offset: int) -> np.ndarray:
    """A copy of ``arr`` starting ``offset`` bytes past a 64-byte boundary."""
    buf = np.empty(arr.nbytes + 128, np.uint8)
    start = -buf.ctypes.data % 64 + offset
    copy = buf[start : start + arr.nbytes].view(arr.dtype).reshape(arr.shape)
    copy[...] = arr
    return copy


def test_gradient_does_not_depend_on_where_the_image_lies_in_memory():
    """cv2.magnitude's SIMD square root (taken by alignment) gave values 1 ulp apart, which
    moved the edge-width quantile of the same image from run to run; `gradient` is IEEE's."""
    rng = np.random.default_rng(5)
    img = cv2.GaussianBlur(rng.integers(0, 256, (256, 256), dtype=np.uint8), (0, 0), 1.0)
    smooth = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 1.5)
    gx, gy = (cv2.Sobel(img, cv2.CV_64F, dx, 1 - dx, ksize=3) for dx in (1, 0))
    exact = (np.sqrt(gx * gx + gy * gy) / 8.0).astype(np.float32)  # 8-bit image: float64, rounded once
    for offset in range(0, 64, 4):
        assert np.array_equal(measures.gradient(_at_offset(img, offset)), exact)
        assert np.array_equal(measures.gradient(_at_offset(smooth, offset)), measures.gradient(smooth))


def test_noise_lowers_noise_component():
    rng = np.random.default_rng(1)
    base = np.tile(np.linspace(40, 220, 256), (256, 1))
    clean = base.astype(np.uint8)
    noisy = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
    q_clean = quality.assess(clean, (0, 255), clean)
    q_noisy = quality.assess(noisy, (0, 255), noisy)
    assert q_clean["components"]["noise"] == 1.0
    assert q_noisy["components"]["noise"] < 0.5
    # Immerkaer's estimate recovers the added sigma (independent check of the measure)
    assert q_noisy["measures"]["noise_sigma"] == pytest.approx(25, rel=0.25)


def test_value_range_use_vs_numpy():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 4096, 100_000)
    a[:30_000] = 4095  # saturated: counted as clipped high
    a[30_000:31_000] = 0
    e = measures.value_range_use(a, (0, 4095))
    ref = (np.percentile(a, 99, method="inverted_cdf") - np.percentile(a, 1, method="inverted_cdf")) / 4095
    assert e["spread"] == pytest.approx(ref, abs=1e-6)
    assert e["clipped_high"] == pytest.approx(np.mean(a == 4095))
    assert e["clipped_low"] == pytest.approx(np.mean(a == 0))


def _phantom_display() -> tuple[np.ndarray, np.ndarray]:
    """A displayed 8-bit radiograph: black letterbox bars, a white shutter band, black air
    with a gentle heel-effect ramp, and an ellipse of textured anatomy. Returns (image,
    true anatomy mask)."""
    rng = np.random.default_rng(4)
    img = np.zeros((512, 512), np.uint8)
    yy, xx = np.mgrid[0:512, 0:512]
    anatomy = ((xx - 256) / 90.0) ** 2 + ((yy - 280) / 170.0) ** 2 < 1
    field = np.zeros_like(anatomy)
    field[40:500, 80:432] = True
    air = np.clip(8 + (yy - 40) * 12 / 460 + rng.normal(0, 0.7, yy.shape), 0, 255)
    tissue = 90 + 60 * np.sin(xx / 7.0) * np.cos(yy / 11.0) + rng.normal(0, 2, yy.shape)
    img[field] = air[field].astype(np.uint8)
    img[anatomy] = np.clip(tissue[anatomy], 0, 255).astype(np.uint8)
    img[16:40, 64:448] = 255  # shutter band on top of the field
    img[:, :64] = img[:, 448:] = 0  # letterbox bars
    return img, anatomy


def test_anatomy_mask_excludes_padding_shutter_and_air():
    img, truth = _phantom_display()
    m = anatomy_mask(img)
    iou = (m & truth).sum() / (m | truth).sum()
    assert iou > 0.95, iou


def test_anatomy_mask_keeps_a_flat_saturated_part():
    # saturated anatomy is flat white: it stays anatomy (and counts as clipped)
    img, truth = _phantom_display()
    img[truth] = 255
    m = anatomy_mask(img)
    assert (m & truth).sum() / truth.sum() > 0.95
    q = quality.assess(img, (0, 255), img)
    assert q["components"]["clipping"] == 0.0 and q["detail"].startswith("clipping 0.00")


def test_padding_is_ignored():
    rng = np.random.default_rng(3)
    img = rng.integers(60, 200, (512, 256)).astype(np.uint8)
    padded = np.zeros((512, 512), np.uint8)
    padded[:, 128:-128] = img
    content = np.zeros(padded.shape, bool)
    content[:, 128:-128] = True
    q = quality.assess(img, (0, 255), padded, content)
    assert q["measures"]["anatomy_fraction"] == 1.0
    ref = np.percentile(img, 99, method="inverted_cdf") - np.percentile(img, 1, method="inverted_cdf")
    assert q["measures"]["spread"] == pytest.approx(ref / 255, abs=1e-4)  # measures are rounded to 4 places
