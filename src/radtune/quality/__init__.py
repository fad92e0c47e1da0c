"""Image quality score in [0, 1] for radiographs: does the image show the anatomy well?

Every measure is taken on the **anatomy** only (:mod:`radtune.quality.anatomy`): letterbox
padding, collimation/shutter bands and the uniform direct-exposure background are
excluded. In 8-bit exports they sit at pure black or white by design, and counting them
(as the first version of this score did) rejects ordinary, well-exposed JPG/PNG images.

Inputs: the stored values (DICOM: detector units before any LUT, with the range the
detector can store, 2**BitsStored values; JPG/PNG: the file's 0..255 values) and the
displayed 8-bit image at the analysis size (a 512 letterbox) with its non-padding mask.
The anatomy mask is found on the displayed image and mapped back onto the stored values.

Components (each in [0, 1], 1 = nothing wrong; constants in :mod:`radtune.quality.score`):

* ``coverage``: anatomy area / exposed field. ~0 for a blank or mis-aimed exposure.
* ``exposure``: spread p1..p99 of the anatomy's stored values as a fraction of the value
  range. An under-exposed detector image (or a flat grey export) crams the anatomy into a
  narrow band.
* ``clipping``: fraction of the anatomy's interior at the floor/ceiling of the stored
  range or at black/white on display: burnt-out or saturated anatomy (over-exposure, a
  window that throws the part away).
* ``sharpness``: width of the anatomy's strongest edges (the sigma of a blurred step with
  the same steepest gradient), in pixels of the analysis image: motion or defocus blur.
* ``noise``: Immerkaer's (1996) noise sigma / the anatomy's displayed p1..p99 spread, i.e.
  1 / contrast-to-noise: quantum mottle of an under-exposed image that was windowed up.

Calibration is by what a radiographer calls acceptable, not by fitting the sample: each
component is 1 over the acceptable range and falls linearly to 0 at the value that makes a
view non-diagnostic (anatomy under 1 % of the field; anatomy in under a tenth of the value
range; 40 % of it burnt out; edges smeared to a sigma of 4.5 px, a ~2 % wide ramp; noise
at 5 % of the anatomy's contrast). The acceptable ends were then checked against the
synthetic sample's normal views (a small child's lateral forearm covers 5-7 % of the
field; overlapping bones in a bone window put up to ~15 % of a thin part at white; the
softest normal views have edges of sigma ~2.4 px): they must not be penalised.
Sharpness is judged at the analysis size (512): what the pipeline writes and trains on.

score = product of the components: one failing component fails the image, and two mild
faults compound. ``detail`` names the components below 1, worst first, with their values in
words; the quality gate quotes it in the rejection line.
"""

from __future__ import annotations

import numpy as np

from radtune.quality.anatomy import anatomy_mask
from radtune.quality.score import COMPONENTS, components, explain, measure

__all__ = ["COMPONENTS", "anatomy_mask", "assess", "range_name"]


def range_name(detector_range: tuple[float, float]) -> str:
    """How the value range is called in the explanation."""
    lo, hi = detector_range
    if (lo, hi) == (0, 255):
        return "8-bit range"
    return f"detector range {lo:g}..{hi:g}"


def assess(
    stored: np.ndarray,
    detector_range: tuple[float, float],
    image: np.ndarray,
    content: np.ndarray | None = None,
) -> dict:
    """Quality of one image: {"score", "components", "measures", "detail"}, floats rounded
    to 4 places.

    ``stored``: the stored values (2-D, any geometry: the anatomy mask is mapped onto it);
    ``detector_range``: (min, max) storable value, e.g. (0, 4095) for 12 bits;
    ``image``: the displayed uint8 analysis image; ``content``: its non-padding area."""
    if content is None:
        content = np.ones(image.shape, dtype=bool)
    x = measure(stored, detector_range, image, content)
    comps = components(x)
    score = float(np.prod([comps[k] for k in COMPONENTS]))
    return {
        "score": round(score, 4),
        "components": {k: round(float(comps[k]), 4) for k in COMPONENTS},
        "measures": {k: round(float(v), 4) for k, v in x.items()},
        "detail": explain(comps, x, range_name(detector_range)),
    }
