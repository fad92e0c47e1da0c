"""Components, score and the one-line explanation (see :mod:`radtune.quality`)."""

from __future__ import annotations

import cv2
import numpy as np

from radtune.quality import measures as m
from radtune.quality.anatomy import anatomy_mask

COMPONENTS = ("coverage", "exposure", "clipping", "sharpness", "noise")
#: coverage: anatomy / field area. < 1 %: nothing shown (blank or mis-aimed exposure);
#: >= 5 %: a normal view (a small child's lateral forearm in a wide field covers 5-7 %)
COVERAGE_BLANK, COVERAGE_OK = 0.01, 0.05
#: exposure: anatomy p1..p99 spread / value range (detector range of the stored values;
#: 0..255 for 8-bit files). < 10 % (< ~410 of 4096 detector levels, < 26 grey levels): too
#: little signal -- under-exposed, or a flat grey export; >= 30 %: fully usable
SPREAD_BAD, SPREAD_GOOD = 0.10, 0.30
#: clipping: fraction of the anatomy's interior at the floor/ceiling (burnt out to black,
#: saturated to white, or at the detector's limits). Up to 15 %: normal in a bone window
#: (overlapping bones and dense cortex at white, a thin part's skin margin at black);
#: 40 %: much of the part without any detail
CLIP_OK, CLIP_BAD = 0.15, 0.40
#: pixels trimmed off the anatomy's outline before counting clipped pixels (the skin line
#: fades into black air in any window: that is not burnt-out anatomy)
CLIP_EDGE = 2
#: sharpness: width (Gaussian sigma, pixels of the 512 analysis image) of the anatomy's
#: strongest edges. <= 2.5 px: crisp cortex at this scale; >= 4.5 px (edges smeared over
#: ~2 % of the image): blurred (motion, defocus, heavy smoothing)
SHARP_SIGMA, BLURRED_SIGMA = 2.5, 4.5
#: noise: Immerkaer noise sigma / the anatomy's displayed p1..p99 spread (1 / contrast-to-
#: noise). <= 1 %: not visible in 8 bits; >= 5 %: grainy mottle hiding low-contrast
#: detail (quantum noise of an under-exposed image that was windowed up)
NOISE_OK, NOISE_BAD = 0.01, 0.05
#: fewer anatomy pixels than this: only coverage is measured (the rest is undefined)
MIN_ANATOMY_PIXELS = 256


def ramp(x: float, zero_at: float, one_at: float) -> float:
    """Linear ramp clipped to [0, 1] (works in both directions)."""
    return float(np.clip((x - zero_at) / (one_at - zero_at), 0.0, 1.0))


def measure(
    stored: np.ndarray,
    detector_range: tuple[float, float],
    image: np.ndarray,
    content: np.ndarray,
) -> dict[str, float]:
    """Raw measures on the anatomy of ``image`` (uint8 analysis image whose non-padding
    area is ``content``) and of the matching ``stored`` values (source geometry)."""
    anatomy = anatomy_mask(image, content)
    n = int(anatomy.sum())
    out: dict[str, float] = {
        "anatomy_fraction": n / max(int(content.sum()), 1),
        "anatomy_pixels": float(n),
    }
    if n < MIN_ANATOMY_PIXELS:
        return out
    interior = cv2.erode(anatomy.astype(np.uint8), np.ones((2 * CLIP_EDGE + 1,) * 2, np.uint8)).astype(bool)
    if interior.sum() < MIN_ANATOMY_PIXELS:
        interior = anatomy
    stored_use = m.value_range_use(stored[m.source_mask(anatomy, content, stored.shape)], detector_range)
    stored_low, stored_high = m.clipped(stored[m.source_mask(interior, content, stored.shape)], detector_range)
    shown_low, shown_high = m.clipped(image[interior], (0, 255))
    spread = m.display_spread(image, anatomy)
    sigma = m.noise_sigma(image, anatomy)
    return {
        **out,
        "spread": stored_use["spread"],
        "clipped_low": max(stored_low, shown_low),
        "clipped_high": max(stored_high, shown_high),
        "edge_sigma": m.edge_width(image, anatomy),
        "noise_sigma": sigma,
        "noise_ratio": sigma / max(spread, 1.0),
    }


def components(x: dict[str, float]) -> dict[str, float]:
    """Each component in [0, 1] from the measures (1 = no fault)."""
    c = {"coverage": ramp(x["anatomy_fraction"], COVERAGE_BLANK, COVERAGE_OK)}
    if "spread" not in x:  # no anatomy to judge
        return {**c, **{k: 1.0 for k in COMPONENTS if k != "coverage"}}
    return {
        **c,
        "exposure": ramp(x["spread"], SPREAD_BAD, SPREAD_GOOD),
        "clipping": ramp(x["clipped_low"] + x["clipped_high"], CLIP_BAD, CLIP_OK),
        "sharpness": ramp(x["edge_sigma"], BLURRED_SIGMA, SHARP_SIGMA) if x["edge_sigma"] > 0 else 0.0,
        "noise": ramp(x["noise_ratio"], NOISE_BAD, NOISE_OK),
    }


def _why(name: str, x: dict[str, float], range_name: str) -> str:
    """What a component's value means, in words."""
    if name == "coverage":
        return f"anatomy covers {100 * x['anatomy_fraction']:.0f}% of the image"
    if name == "exposure":
        return f"anatomy spans {100 * x['spread']:.0f}% of the {range_name}"
    if name == "clipping":
        lo, hi = 100 * x["clipped_low"], 100 * x["clipped_high"]
        return f"{lo + hi:.0f}% of the anatomy clipped ({lo:.0f}% black, {hi:.0f}% white)"
    if name == "sharpness":
        return f"edges blurred to sigma {x['edge_sigma']:.1f} px" if x["edge_sigma"] > 0 else "no edges in the anatomy"
    return f"noise is {100 * x['noise_ratio']:.1f}% of the anatomy's grey range"


def explain(comps: dict[str, float], x: dict[str, float], range_name: str) -> str:
    """The components below 1, worst first, with what they mean: one line, e.g.
    ``exposure 0.10 (anatomy spans 12% of the 8-bit range), sharpness 0.62 (...)``."""
    low = sorted((v, k) for k, v in comps.items() if v < 1.0)
    return ", ".join(f"{k} {v:.2f} ({_why(k, x, range_name)})" for v, k in low)
