"""Image quality score in [0, 1] for colour fundus photographs (:func:`assess_colour`).

Measured on the **fundus field** only: the pixels brighter than the dark surround of the
camera's circular aperture (the brightest channel, lightly smoothed, above
``FIELD_LEVEL``). Everything is taken on a copy whose longer side is ``ANALYSIS_SIZE``
(512, as for radiographs), so the score does not depend on the file's resolution.

Components (each in [0, 1], 1 = nothing wrong):

* ``focus``: sharpness of the vessel edges, as the ratio of the green channel's Laplacian
  energy at a fine scale (Gaussian sigma 1 px) to that at a coarse scale (sigma 2 px),
  inside the field (its rim eroded away). The ratio is normalised by the image's own
  contrast -- the same structures feed both scales -- so few vessels or a pale image do
  not read as blur. A crisp edge gives ~2^3 = 8 in theory (LoG energy of a step ~
  sigma^-3), a defocused image (blur sigma >= 4 px at 512) ~1.2-1.7.
* ``illumination``: the product of brightness (mean of the brightest channel over the
  field: too dark below ``DARK_BAD``), saturation (fraction of the field whose BT.601
  luma is >= 240: burnt out to white; a clipped red channel alone is common in fundus
  photographs and not counted) and uniformity (the darkest quadrant's mean / the brightest
  quadrant's mean, quadrants about the field's centroid: a crescent of shadow).
* ``coverage``: field area / the largest circle that fits in the image (a RetCam field
  fills it; a half-black or mis-aimed frame does not).

score = product; ``detail`` names the components below 1, worst first, with their values in
words (the style of :func:`radtune.quality.score.explain`).

Calibration (see tests/test_colour.py): every synthetic fundus image
(:mod:`radtune.synth.fundus`, any zone/stage/plus/pigmentation) scores >= 0.9, while a
Gaussian blur of sigma 6 px at 640 px fails ``focus``, x0.25 brightness fails
``illumination`` and a half-black frame fails ``coverage`` (each < 0.5).
"""

from __future__ import annotations

import cv2
import numpy as np

from radtune.pixels.decode import luma
from radtune.quality.score import ramp

COMPONENTS = ("focus", "illumination", "coverage")
ANALYSIS_SIZE = 512
#: the field: brightest channel (Gaussian sigma 2 px) above this 8-bit level
FIELD_LEVEL = 15
#: pixels eroded off the field's rim before measuring focus (the aperture edge is sharp
#: by construction and must not count as focus)
RIM = 12
#: focus: fine/coarse Laplacian energy ratio. <= 1.8: defocused (blur sigma >= ~3 px at
#: 512); >= 2.6: vessel edges crisp
FOCUS_BLURRED, FOCUS_SHARP = 1.8, 2.6
#: brightness: mean of the brightest channel over the field. <= 40: too dark to see the
#: vessels and the ridge; >= 90: well lit (darkly pigmented fundi sit at ~110-130)
DARK_BAD, DARK_OK = 40.0, 90.0
#: saturation: fraction of the field with luma >= 240. <= 5 %: the disc and reflexes;
#: >= 30 %: burnt out
SAT_OK, SAT_BAD = 0.05, 0.30
#: uniformity: darkest / brightest quadrant mean. <= 0.25: a quadrant lost in shadow;
#: >= 0.5: acceptable fall-off
UNIFORM_BAD, UNIFORM_OK = 0.25, 0.50
#: coverage: field area / inscribed circle. <= 30 %: little retina shown; >= 80 %: a full field
COVERAGE_BAD, COVERAGE_OK = 0.30, 0.80
#: fewer field pixels than this (after eroding the rim): only coverage is measured
MIN_FIELD_PIXELS = 256


def _analysis(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` shrunk (INTER_AREA) so its longer side is ANALYSIS_SIZE (never enlarged)."""
    h, w = rgb.shape[:2]
    scale = ANALYSIS_SIZE / max(h, w)
    if scale >= 1:
        return rgb
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def fundus_mask(rgb: np.ndarray) -> np.ndarray:
    """Boolean mask of the fundus field: brighter than the aperture's dark surround."""
    brightest = rgb.max(axis=2) if rgb.ndim == 3 else rgb
    return cv2.GaussianBlur(brightest, (0, 0), 2.0) > FIELD_LEVEL


def measure_colour(rgb: np.ndarray) -> dict[str, float]:
    """Raw measures of an RGB uint8 image (any size; analysed at ANALYSIS_SIZE)."""
    im = _analysis(rgb)
    mask = fundus_mask(im)
    n = int(mask.sum())
    h, w = mask.shape
    out: dict[str, float] = {"field_fraction": n / (np.pi / 4 * min(h, w) ** 2), "field_pixels": float(n)}
    inner = cv2.erode(mask.astype(np.uint8), np.ones((2 * RIM + 1,) * 2, np.uint8)).astype(bool)
    if inner.sum() < MIN_FIELD_PIXELS:
        return out
    green = im[..., 1].astype(np.float32)
    fine = cv2.Laplacian(cv2.GaussianBlur(green, (0, 0), 1.0), cv2.CV_32F)[inner]
    coarse = cv2.Laplacian(cv2.GaussianBlur(green, (0, 0), 2.0), cv2.CV_32F)[inner]
    brightest = im.max(axis=2)
    field = brightest[mask].astype(np.float64)
    ys, xs = np.nonzero(mask)
    cy, cx = ys.mean(), xs.mean()
    quads = []
    for top in (True, False):
        for left in (True, False):
            sel = ((ys < cy) == top) & ((xs < cx) == left)
            if sel.sum() >= MIN_FIELD_PIXELS // 4:
                quads.append(float(field[sel].mean()))
    return {
        **out,
        "focus_ratio": float(fine.var() / max(float(coarse.var()), 1e-9)),
        "brightness": float(field.mean()),
        "saturated": float((luma(im)[mask] >= 240).mean()),
        "uniformity": min(quads) / max(max(quads), 1e-9) if quads else 0.0,
    }


def components_colour(x: dict[str, float]) -> dict[str, float]:
    """Each component in [0, 1] from the measures (1 = no fault)."""
    c = {"coverage": ramp(x["field_fraction"], COVERAGE_BAD, COVERAGE_OK)}
    if "focus_ratio" not in x:  # no field to judge
        return {"focus": 1.0, "illumination": 1.0, **c}
    illumination = (
        ramp(x["brightness"], DARK_BAD, DARK_OK)
        * ramp(x["saturated"], SAT_BAD, SAT_OK)
        * ramp(x["uniformity"], UNIFORM_BAD, UNIFORM_OK)
    )
    return {"focus": ramp(x["focus_ratio"], FOCUS_BLURRED, FOCUS_SHARP), "illumination": illumination, **c}


def _why(name: str, x: dict[str, float]) -> str:
    """What a component's value means, in words."""
    if name == "coverage":
        return f"fundus field covers {100 * x['field_fraction']:.0f}% of the aperture circle"
    if name == "focus":
        return f"vessel edges blurred: fine/coarse detail ratio {x['focus_ratio']:.2f}"
    parts = []
    if x["brightness"] < DARK_OK:
        parts.append(f"field mean brightness {x['brightness']:.0f} of 255")
    if x["saturated"] > SAT_OK:
        parts.append(f"{100 * x['saturated']:.0f}% of the field saturated")
    if x["uniformity"] < UNIFORM_OK:
        parts.append(f"darkest quadrant at {100 * x['uniformity']:.0f}% of the brightest")
    return ", ".join(parts)


def explain_colour(comps: dict[str, float], x: dict[str, float]) -> str:
    """The components below 1, worst first, with what they mean: one line."""
    low = sorted((v, k) for k, v in comps.items() if v < 1.0)
    return ", ".join(f"{k} {v:.2f} ({_why(k, x)})" for v, k in low)


def assess_colour(rgb: np.ndarray) -> dict:
    """Quality of one colour fundus photograph (uint8 (H, W, 3) RGB): {"score",
    "components", "measures", "detail"}, floats rounded to 4 places, as
    :func:`radtune.quality.assess` returns for radiographs."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"assess_colour expects a uint8 (H, W, 3) RGB image, got {rgb.dtype} {rgb.shape}")
    x = measure_colour(rgb)
    comps = components_colour(x)
    score = float(np.prod([comps[k] for k in COMPONENTS]))
    return {
        "score": round(score, 4),
        "components": {k: round(float(comps[k]), 4) for k in COMPONENTS},
        "measures": {k: round(float(v), 4) for k, v in x.items()},
        "detail": explain_colour(comps, x),
    }


__all__ = ["COMPONENTS", "assess_colour", "fundus_mask", "measure_colour"]
