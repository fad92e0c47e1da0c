"""The anatomy mask: the part of a displayed radiograph that shows the patient.

Everything else is excluded from the quality measures, because it says nothing about the
image's quality and in 8-bit exports it sits at black or white by design:

1. **padding** -- the letterbox added by the renderer (known: ``content``) and any border
   added by an exporting viewer (black/white bars, found by step 2);
2. **collimation / shutters / letterbox bars** -- uniform bands along the image edges:
   :func:`field_box` peels rows and columns off each side while at least
   ``BAND_UNIFORM_FRACTION`` of a row's pixels lie within ``BAND_TOL`` grey levels of the
   row's median (a shutter is uniform; a row crossing anatomy is not);
3. **uniform background** -- direct exposure (air) around the part: :func:`background`
   takes the flat pixels (gradient <= ``FLAT_GRADIENT`` grey levels/px after a Gaussian of
   ``FLAT_SMOOTH`` px: plateaus and the gentle heel-effect ramp) within ``LEVEL_TOL`` of
   the dark plateau along the field's edge, in components reaching that edge. A flat area
   at another level (saturated bone, smooth soft tissue leaving the image at the forearm)
   is kept: it is anatomy.

All functions work on the 8-bit displayed image at the analysis size (512 letterbox).
"""

from __future__ import annotations

import cv2
import numpy as np

from radtune.quality.measures import gradient

#: a border row/column is a uniform band when this fraction of it is within BAND_TOL of its median
BAND_UNIFORM_FRACTION = 0.97
BAND_TOL = 6
BAND_END_SKIP = 0.05
#: flat = gradient of the image smoothed with a Gaussian of FLAT_SMOOTH px at most FLAT_GRADIENT grey levels/px
FLAT_SMOOTH = 1.5
FLAT_GRADIENT = 1.0
#: background components must reach this close (pixels) to the field's edge
EDGE_ZONE = 6
#: the background plateau lies within this many grey levels of black (or white)
BACKGROUND_LEVEL = 64
#: other edge-touching plateaus within this many grey levels of it are background too
LEVEL_TOL = 24


def _uniform_rows(block: np.ndarray) -> np.ndarray:
    """For each row of ``block``: is it a uniform band? The outer BAND_END_SKIP of each row
    is not looked at: where two bands meet (a shutter behind a letterbox bar), a blurred or
    ringing corner must not hide the band."""
    skip = int(block.shape[1] * BAND_END_SKIP)
    core = block[:, skip : block.shape[1] - skip]
    n = core.shape[1]
    if n == 0:
        return np.ones(block.shape[0], dtype=bool)
    middle = ((n - 1) // 2, n // 2)  # np.median's: their mean is the median
    part = np.partition(core, middle, axis=1)
    twice = part[:, middle[0]].astype(np.int32) + part[:, middle[1]]
    lo, hi = (twice - 2 * BAND_TOL + 1) // 2, (twice + 2 * BAND_TOL) // 2  # median -/+ BAND_TOL, as integers
    near = (core >= lo[:, None]) & (core <= hi[:, None])
    return np.count_nonzero(near, axis=1) / n >= BAND_UNIFORM_FRACTION


def _peel(block: np.ndarray, chunk: int = 16) -> tuple[int, int]:
    """(leading, trailing) numbers of uniform rows of ``block`` (`_uniform_rows`), looking
    only as far in from each end as the first row that is not uniform (a chunk at a time):
    the anatomy's rows in between are never measured."""
    n = block.shape[0]
    head = 0
    while head < n:
        uniform = _uniform_rows(block[head : head + chunk])
        if not uniform.all():
            head += int(np.argmin(uniform))
            break
        head += len(uniform)
    if head >= n:
        return n, 0
    tail = 0
    while True:  # a non-uniform row exists (at `head`), so this stops there at the latest
        uniform = _uniform_rows(block[max(head, n - tail - chunk) : n - tail])[::-1]
        if not uniform.all():
            return head, tail + int(np.argmin(uniform))
        tail += len(uniform)


def field_box(image: np.ndarray, content: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) -- bottom/right exclusive -- of the exposed field: the
    bounding box of ``content`` with uniform bands peeled off each side (rows, then
    columns, again until nothing changes: a letterbox bar can hide a shutter band)."""
    rows, cols = np.flatnonzero(content.any(axis=1)), np.flatnonzero(content.any(axis=0))
    if rows.size == 0:
        return 0, 0, 0, 0
    t, b, left, r = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    while t < b and left < r:
        head, tail = _peel(image[t:b, left:r])
        t, b = t + head, max(b - tail, t + head)
        if t >= b:
            break
        first, last = _peel(image[t:b, left:r].T)
        left, r = left + first, max(r - last, left + first)
        if head == tail == first == last == 0:
            break
    return t, b, left, r


def flat(image: np.ndarray) -> np.ndarray:
    """Pixels where the image, smoothed with a Gaussian of FLAT_SMOOTH pixels (which tames
    pixel noise and JPEG ringing), changes by at most FLAT_GRADIENT grey levels per pixel:
    plateaus and gentle ramps (the heel effect), not edges."""
    return gradient(cv2.GaussianBlur(image.astype(np.float32), (0, 0), FLAT_SMOOTH)) <= FLAT_GRADIENT


def background(image: np.ndarray, field: np.ndarray) -> np.ndarray:
    """Uniform background inside ``field``. Its level L is the most common grey level of
    the flat pixels within EDGE_ZONE pixels of the field's edge that lie within
    BACKGROUND_LEVEL grey levels of black (direct exposure is black on a radiograph
    display), or of white only when no such dark plateau exists (an inverted display):
    saturated white anatomy leaving the field is never taken for background. The
    background is then every flat pixel within LEVEL_TOL of L in a connected component
    reaching that edge zone. Empty when no such plateau exists."""
    none = np.zeros(image.shape, dtype=bool)
    if not field.any():
        return none
    kernel = np.ones((2 * EDGE_ZONE + 1, 2 * EDGE_ZONE + 1), np.uint8)
    inside = cv2.erode(field.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    zone = field & ~inside.astype(bool)
    smooth = cv2.GaussianBlur(image, (0, 0), FLAT_SMOOTH)
    plateau = field & flat(image)
    levels = smooth[zone & plateau]
    dark = levels[levels <= BACKGROUND_LEVEL]
    levels = dark if dark.size else levels[levels >= 255 - BACKGROUND_LEVEL]
    if levels.size == 0:
        return none
    level = int(np.argmax(np.bincount(levels, minlength=256)))
    cand = plateau & (np.abs(smooth.astype(np.int16) - level) <= LEVEL_TOL)
    count, labels = cv2.connectedComponents(cand.astype(np.uint8), connectivity=4)
    reaching = np.zeros(count, dtype=bool)
    reaching[labels[zone & cand]] = True
    reaching[0] = False  # label 0: not a candidate
    return reaching[labels]


def anatomy_mask(image: np.ndarray, content: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of the anatomy in a displayed uint8 image; ``content`` is the
    non-padding area the renderer knows about (default: the whole image)."""
    if content is None:
        content = np.ones(image.shape, dtype=bool)
    t, b, left, r = field_box(image, content)
    field = np.zeros(image.shape, dtype=bool)
    field[t:b, left:r] = True
    field &= content
    return field & ~background(image, field)
