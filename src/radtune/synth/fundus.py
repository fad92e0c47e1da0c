"""Deterministic synthetic colour fundus photographs (RetCam-style wide field) for ROP
screening, and their DICOM encoding (Ophthalmic Photography 8 Bit Image Storage).

Geometry (fractions of the image size ``s``): a circular aperture of radius ~0.48 s centred
in the image, dark outside; the optic disc ~0.10-0.17 s left or right of centre; the macula
at the disc-to-macula distance ``dm`` (~0.12 s) from the disc towards the image centre
(temporal). The ROP signs sit on a circle around the disc whose radius sets the zone, as
in ICROP3: zone I = within 2 x ``dm`` of the disc; zone II = out to the nasal ora (past the
aperture edge on the disc side); zone III = the temporal crescent beyond it, seen only on
the far side of the image. Retinal vessels grow from the disc and END at that vascular front
(no vessels in the avascular retina beyond it), which is also slightly paler.

Signs per stage (at the front, over 3-12 clock hours): 1 a thin flat grey-white
demarcation line; 2 a thicker raised pink-white ridge (bright crest, shadow on its
peripheral side); 3 the ridge plus fuzzy red extraretinal fibrovascular tufts; 4 plus a
partial grey-white detachment sheet; 5 a total detachment covering most of the field.
Plus disease: posterior vessels (within ~2 x ``dm`` of the disc) dilated ~1.8-2.5x and
tortuous (a sinusoidal wiggle with an amplitude of about the vessel width).

Sizes are chosen so the signs survive a resize of the whole image to 96 px the way a
screener sees them: the line is ~1-1.5 px wide there, the ridge ~2-3 px, a plus vessel
~2 px against ~1 px. Nothing but anatomy is drawn (no markers, no text).
"""

from __future__ import annotations

import hashlib
import math

import cv2
import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import convert_color_space

from radtune.synth import dicom_writer as dw

ZONES = ("I", "II", "III")
STAGES = (0, 1, 2, 3, 4, 5)
PHOTOMETRICS = ("RGB", "YBR_FULL_422")
#: front radius (distance from the disc) as a fraction of the image size, per zone
ZONE_RADIUS = {"I": (0.18, 0.22), "II": (0.36, 0.42), "III": (0.53, 0.58)}


def _check(zone: str | None, stage: int, size: int) -> None:
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    if stage == 0 and zone is not None:
        raise ValueError(f"zone must be None for stage 0 (a normal eye), got {zone!r}")
    if stage > 0 and zone not in ZONES:
        raise ValueError(f"zone must be one of {ZONES} for stage {stage}, got {zone!r}")
    if size < 64:
        raise ValueError(f"size must be >= 64, got {size}")


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Zero-mean, unit-ish smooth noise: ``cells`` x ``cells`` Gaussian values upsampled."""
    small = rng.standard_normal((cells, cells)).astype(np.float32)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)


def _vessel_tree(
    rng: np.random.Generator,
    disc: tuple[float, float],
    disc_r: float,
    temporal: float,
    front: float,
    harmonics: list[tuple[int, float, float]],
    dm: float,
    plus: bool,
    s: int,
) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """Vessel centrelines as (points (N, 2), widths (N,), is_artery) polylines from the disc
    to the front (``front`` = distance from the disc where vascularisation stops)."""
    out: list[tuple[np.ndarray, np.ndarray, bool]] = []
    step = 0.008 * s
    base_w = 0.0105 * s  # main vein width at the disc (~6.7 px at 640, ~1 px at 96)
    lim_lo, lim_hi = -0.1 * s, 1.1 * s
    stack = []
    for side in (-1.0, 1.0):  # the arcades: superior/inferior temporal (around the macula), nasal
        trunks = (
            (temporal + side * rng.uniform(0.55, 0.85), -side * rng.uniform(0.9, 1.5), 1.0),
            (temporal + math.pi + side * rng.uniform(0.6, 1.1), side * rng.uniform(0.2, 0.6), 0.85),
        )
        for ang, curv, wf in trunks:
            for artery in (False, True):
                a = ang + rng.uniform(-0.18, 0.18)
                p = (disc[0] + 0.6 * disc_r * math.cos(a), disc[1] + 0.6 * disc_r * math.sin(a))
                stack.append((p, a, curv, base_w * wf * (0.72 if artery else 1.0), artery, 0))
    n_max = int(1.3 * s / step)
    (_, h2a, h2p), (_, h3a, h3p) = harmonics  # the front's 2nd and 3rd harmonics
    while stack:
        (x, y), a, curv, w, artery, depth = stack.pop(0)
        kinks = rng.normal(0.0, 0.06, size=n_max).tolist()
        next_branch = rng.uniform(0.12, 0.22) * s
        pts: list[tuple[float, float]] = []
        ws: list[float] = []
        travelled = 0.0
        for i in range(n_max):
            d = math.hypot(x - disc[0], y - disc[1])
            if front < 2 * s:
                ang = math.atan2(y - disc[1], x - disc[0])
                front_here = front + h2a * math.cos(2 * ang + h2p) + h3a * math.cos(3 * ang + h3p)
            else:
                front_here = front
            if d > front_here or w < 0.0012 * s or not (lim_lo < x < lim_hi and lim_lo < y < lim_hi):
                break
            pts.append((x, y))
            ws.append(w)
            # curvature fades with distance (arcades straighten towards the periphery)
            a += curv / (0.35 * s) * step * math.exp(-d / (0.45 * s)) + kinks[i]
            x, y = x + step * math.cos(a), y + step * math.sin(a)
            travelled += step
            w *= 0.9953
            if travelled > next_branch and depth < 3:
                turn = 1.0 if rng.random() < 0.5 else -1.0
                child_a = a + turn * rng.uniform(0.45, 0.9)
                stack.append(((x, y), child_a, turn * rng.uniform(0.0, 0.6), w * 0.7, artery, depth + 1))
                w *= 0.85
                next_branch = travelled + rng.uniform(0.10, 0.2) * s
        if len(pts) < 2:
            continue
        xy = np.asarray(pts, np.float32)
        wv = np.asarray(ws, np.float32)
        r = np.hypot(xy[:, 0] - disc[0], xy[:, 1] - disc[1])
        if front < 2 * s:  # taper the last stretch to a fine end at the front
            wv *= np.clip((front_here - r) / (0.04 * s) + 0.35, 0.35, 1.0)
        if plus:
            # 1 from just off the disc out to 2 dm, 0 beyond 2.6 dm (and on the disc itself)
            post = np.clip(1.0 - (r - 2.0 * dm) / (0.6 * dm), 0.0, 1.0) * np.clip((r - disc_r) / disc_r, 0.0, 1.0)
            seg = np.diff(xy, axis=0, prepend=xy[:1] - (xy[1:2] - xy[:1]))
            normal = np.stack([-seg[:, 1], seg[:, 0]], axis=1)
            normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-6)
            arc = np.cumsum(np.hypot(seg[:, 0], seg[:, 1]))
            period = rng.uniform(0.05, 0.07) * s
            amp = wv * rng.uniform(0.8, 1.2) * post
            xy = xy + normal * (amp * np.sin(2 * math.pi * arc / period + rng.uniform(0, 2 * math.pi)))[:, None]
            wv = wv * (1.0 + post * rng.uniform(0.8, 1.5))
        out.append((xy, wv, artery))
    return out


def _draw_vessels(trees: list, s: int, vein: np.ndarray, artery: np.ndarray) -> np.ndarray:
    """A (s, s, 3) uint8 transmission image (255 = no vessel) with the vessels drawn
    anti-aliased in their colours (vessel / background ratios x 255), arteries first and
    veins over them; each polyline is cut into runs of equal integer thickness."""
    sub = 4  # cv2 shift bits: sub-pixel vertices
    out = np.full((s, s, 3), 255, np.uint8)
    colours = {False: tuple(float(v) for v in vein), True: tuple(float(v) for v in artery)}
    for is_artery in (True, False):
        for pts, ws, art in trees:
            if art != is_artery:
                continue
            q = np.round(pts * (1 << sub)).astype(np.int32)
            t = np.maximum(1, np.round(ws)).astype(np.int32)
            cuts = np.flatnonzero(np.diff(t)) + 1
            starts = np.concatenate([[0], cuts]).tolist()
            ends = np.concatenate([cuts, [len(t)]]).tolist()
            for a, b in zip(starts, ends, strict=True):
                run = q[a : min(b + 1, len(q))]
                if len(run) >= 2:
                    cv2.polylines(out, [run], False, colours[art], int(t[a]), cv2.LINE_AA, sub)
    return out


def fundus_rgb(rng: np.random.Generator, *, zone: str | None, stage: int, plus: bool, size: int = 640) -> np.ndarray:
    """A synthetic wide-field colour fundus photograph, uint8 (size, size, 3) RGB.

    ``zone``: "I" | "II" | "III" (None for stage 0); ``stage``: 0 (normal) .. 5;
    ``plus``: dilated, tortuous posterior vessels. The same generator state gives the same
    bytes. Smooth fields (illumination, texture, the paler avascular retina, sector windows,
    sheets) are computed on a quarter-size grid and upsampled; edges (disc, vessels,
    line/ridge, aperture) at full size."""
    _check(zone, stage, size)
    s = size
    f32 = np.float32
    lo = max(16, s // 4)  # the low-resolution grid for smooth fields
    k = s / lo
    c = (s - 1) / 2.0

    # --- geometry: disc left or right of centre, macula temporal to it --------------
    ap_r = s * rng.uniform(0.465, 0.49)
    side = 1.0 if rng.random() < 0.5 else -1.0
    disc = (c + side * s * rng.uniform(0.10, 0.17), c + s * rng.uniform(-0.05, 0.05))
    temporal = math.atan2(c - disc[1], c - disc[0]) + rng.uniform(-0.15, 0.15)
    disc_r = s * rng.uniform(0.028, 0.036)
    dm = s * rng.uniform(0.11, 0.13)
    macula = (disc[0] + dm * math.cos(temporal), disc[1] + dm * math.sin(temporal))
    front = s * rng.uniform(*ZONE_RADIUS[zone]) if stage > 0 else 10.0 * s

    # --- low-res smooth fields ----------------------------------------------------------
    v = (np.arange(lo, dtype=f32) + 0.5) * f32(k) - 0.5
    lx, ly = v[None, :], v[:, None]
    l_theta = np.arctan2(ly - f32(disc[1]), lx - f32(disc[0]))
    l_rdisc = np.hypot(lx - f32(disc[0]), ly - f32(disc[1]))
    # a slightly wobbly front: its radius varies with low harmonics of the angle
    harmonics = [(harm, rng.uniform(-0.008, 0.008) * s, rng.uniform(0, 2 * math.pi)) for harm in (2, 3)]
    wob = sum(f32(amp) * np.cos(harm * l_theta + f32(ph)) for harm, amp, ph in harmonics).astype(f32)
    pig = rng.uniform(0.0, 1.0)  # 0 = blond, 1 = darkly pigmented fundus
    bright = rng.uniform(0.85, 1.1)
    base = np.array(
        [rng.uniform(200, 228) - 35 * pig, rng.uniform(95, 120) - 40 * pig, rng.uniform(45, 70) - 25 * pig], f32
    )
    gx, gy = rng.uniform(-0.12, 0.12, size=2)
    l_rap2 = ((lx - f32(c)) ** 2 + (ly - f32(c)) ** 2) / f32(ap_r**2)
    illum = bright * (
        1.0 - f32(rng.uniform(0.30, 0.45)) * l_rap2 + f32(gx) * (lx - f32(c)) / s + f32(gy) * (ly - f32(c)) / s
    )
    tex = 0.06 * _smooth_noise(rng, lo, 10) + 0.05 * (0.5 + pig) * _smooth_noise(rng, lo, 40)
    l_rm2 = ((lx - f32(macula[0])) ** 2 + (ly - f32(macula[1])) ** 2) / f32((0.035 * s) ** 2)
    shade = (illum * (1.0 + tex) * (1.0 - 0.22 * np.exp(-l_rm2))).astype(f32)
    bg = shade[..., None] * base
    if stage > 0:  # the avascular retina beyond the front: a little paler and greyer
        beyond = np.clip((l_rdisc - f32(front) - wob) / f32(0.02 * s), 0.0, 1.0)[..., None]
        bg *= 1.0 + beyond * np.array([0.02, 0.10, 0.16], f32)
    fields = [bg, shade[..., None]]
    if stage > 0:
        hours = rng.uniform(3, 12)
        half = hours / 12.0 * math.pi
        if zone == "III":  # the temporal crescent is all the aperture shows of zone III
            centre, half = temporal + rng.uniform(-0.5, 0.5), min(half, 1.1)
        else:
            centre = rng.uniform(-math.pi, math.pi)
    if stage >= 4:
        sheet = np.zeros((lo, lo), f32)
        if stage == 4:  # partial: a bullous sheet astride the ridge
            t = centre + rng.uniform(-0.5, 0.5) * half
            rr = front + rng.uniform(-0.02, 0.05) * s
            p = (disc[0] + rr * math.cos(t), disc[1] + rr * math.sin(t))
            axes = (rng.uniform(0.08, 0.14) * s, rng.uniform(0.05, 0.09) * s)
            rot = math.degrees(t) + 90
        else:  # total: most of the field
            p = (c + rng.uniform(-0.05, 0.05) * s, c + rng.uniform(-0.05, 0.05) * s)
            axes = (rng.uniform(0.36, 0.42) * s, rng.uniform(0.34, 0.40) * s)
            rot = rng.uniform(0, 180)
        centre_lo = (round(p[0] / k), round(p[1] / k))
        cv2.ellipse(sheet, centre_lo, (round(axes[0] / k), round(axes[1] / k)), rot, 0, 360, 1.0, -1)
        sheet = cv2.GaussianBlur(sheet, (0, 0), 0.015 * s / k)
        folds = 0.5 + 0.5 * np.sin(l_theta * f32(rng.integers(5, 9)) + 2.5 * _smooth_noise(rng, lo, 5))
        sheet_rgb = np.array([200, 195, 188], f32) * ((0.8 + 0.2 * folds) * shade)[..., None]
        fields += [sheet[..., None], sheet_rgb]
    img = cv2.resize(bg, (s, s), interpolation=cv2.INTER_LINEAR)
    full = cv2.resize(np.concatenate(fields[1:], axis=2), (s, s), interpolation=cv2.INTER_LINEAR)
    full = full.reshape(s, s, -1)  # cv2 drops a single channel axis

    # --- optic disc (on a patch around it) -----------------------------------------------
    ex, ey = rng.uniform(0.85, 1.0), rng.uniform(1.0, 1.15)
    cup_r = rng.uniform(0.35, 0.5)
    disc_col = np.array([250, 225, 170], f32) * f32(rng.uniform(0.9, 1.0))
    b = int(2 * disc_r) + 2
    y0, y1 = max(0, int(disc[1]) - b), min(s, int(disc[1]) + b)
    x0, x1 = max(0, int(disc[0]) - b), min(s, int(disc[0]) + b)
    px = np.arange(x0, x1, dtype=f32)[None, :] - f32(disc[0])
    py = np.arange(y0, y1, dtype=f32)[:, None] - f32(disc[1])
    rd = np.hypot(px / f32(ex), py / f32(ey)) / f32(disc_r)
    disc_a = (np.clip(1.5 - rd, 0.0, 1.0) ** 0.8)[..., None]
    patch = img[y0:y1, x0:x1]
    img[y0:y1, x0:x1] = (
        patch * (1.0 - disc_a) + disc_col * disc_a + (18.0 * np.exp(-((rd / f32(cup_r)) ** 2)))[..., None]
    )

    # --- ROP signs at the front: drawn along the (wobbly) arc, blended in its bounding box ----
    if stage > 0:
        w = 0.008 * s if stage == 1 else 0.013 * s
        n_pts = max(8, int(2 * (half + 0.25) * front / (0.005 * s)))
        ts = np.linspace(centre - half - 0.25, centre + half + 0.25, n_pts)
        rad = front + sum(amp * np.cos(harm * ts + ph) for harm, amp, ph in harmonics)
        weight = np.clip((half - np.abs(ts - centre)) / 0.25, 0.0, 1.0)

        def arc_mask(offset: float, thickness: float, blur: float) -> np.ndarray:
            m = np.zeros((s, s), np.uint8)
            q = np.round(
                np.stack([disc[0] + (rad + offset) * np.cos(ts), disc[1] + (rad + offset) * np.sin(ts)], 1) * 16
            )
            q = q.astype(np.int32)
            for i in range(n_pts - 1):
                if weight[i] > 0 or weight[i + 1] > 0:
                    value = round(127.5 * (weight[i] + weight[i + 1]))
                    cv2.line(
                        m,
                        tuple(q[i].tolist()),
                        tuple(q[i + 1].tolist()),
                        value,
                        max(1, round(thickness)),
                        cv2.LINE_AA,
                        4,
                    )
            if blur <= 0:
                return m
            x, y, bw, bh = cv2.boundingRect(m)
            pad = int(4 * blur) + 1
            box = (slice(max(0, y - pad), y + bh + pad), slice(max(0, x - pad), x + bw + pad))
            m[box] = cv2.GaussianBlur(m[box], (0, 0), blur)
            return m

        band = arc_mask(0.0, 1.4 * w, 0.45 * w)
        x, y, bw, bh = cv2.boundingRect(band)
        box = (slice(y, y + bh), slice(x, x + bw))
        a = band[box].astype(f32)[..., None] * f32(1.0 / 255.0)
        if stage == 1:  # thin flat grey-white demarcation line
            col, alpha = np.array([225, 220, 210], f32), 0.6
        else:  # raised pink-white ridge, shadow on its peripheral side
            col, alpha = np.array([240, 195, 180], f32), 0.8
            shadow = arc_mask(1.6 * w, 1.0 * w, 0.5 * w)[box].astype(f32) * f32(0.25 / 255.0)
            img[box] *= (1.0 - shadow)[..., None]
        img[box] += f32(alpha) * a * (col * np.clip(full[box][..., 0:1], 0.5, 1.1) - img[box])
        if stage >= 3:  # extraretinal fibrovascular proliferation: fuzzy red tufts on the ridge
            tufts = np.zeros((s, s), np.uint8)
            for _ in range(int(hours * 3)):
                t = centre + rng.uniform(-half, half)
                rr = front + sum(amp * math.cos(harm * t + ph) for harm, amp, ph in harmonics) - rng.uniform(0, 1.2) * w
                p = (int(disc[0] + rr * math.cos(t)), int(disc[1] + rr * math.sin(t)))
                axes = (max(2, int(rng.uniform(0.6, 1.4) * w)), max(2, int(rng.uniform(0.4, 0.9) * w)))
                cv2.ellipse(tufts, p, axes, math.degrees(t), 0, 360, 200, -1, cv2.LINE_AA)
            x, y, bw, bh = cv2.boundingRect(tufts)
            pad = int(w)
            box = (slice(max(0, y - pad), y + bh + pad), slice(max(0, x - pad), x + bw + pad))
            ta = cv2.GaussianBlur(tufts[box], (0, 0), 0.35 * w).astype(f32) * f32(0.85 / 255.0)
            img[box] += ta[..., None] * (np.array([170, 35, 30], f32) - img[box])
        if stage >= 4:  # grey-white detachment sheet with folds
            sa = f32(0.75) * full[..., 1:2]
            img += sa * (full[..., 2:5] - img)

    # --- vessels (they reach the ridge) and the aperture: one transmission image ----------------
    trees = _vessel_tree(rng, disc, disc_r, temporal, front, harmonics, dm, plus, s)
    kv = 1.0 - 0.85 * (1.0 - np.array([0.55, 0.22, 0.35]) * (1.0 - 0.25 * pig))  # vein / background
    ka = 1.0 - 0.7 * (1.0 - np.array([0.80, 0.40, 0.50]) * (1.0 - 0.2 * pig))
    trans = _draw_vessels(trees, s, 255.0 * kv, 255.0 * ka)
    ap = np.zeros((s, s), np.uint8)
    cv2.circle(ap, (round(c * 16), round(c * 16)), round(ap_r * 16), 255, -1, cv2.LINE_AA, 4)
    trans = cv2.multiply(trans, cv2.merge([ap, ap, ap]), scale=1.0 / 255.0)
    img *= trans.astype(f32) * f32(1.0 / 255.0)

    # --- focus, dark surround, sensor noise ----------------------------------------------------
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.1) * s / 640)
    img += rng.integers(-2, 3, (s, s, 1), dtype=np.int8) + f32(4 + rng.uniform(0, 4))
    return cv2.convertScaleAbs(img)


def fundus_dicom(rgb: np.ndarray, header: dict[str, object], photometric: str = "YBR_FULL_422") -> Dataset:
    """An Ophthalmic Photography 8 Bit Image Storage dataset (Modality OP) holding ``rgb``
    (uint8 (H, W, 3), W even for YBR_FULL_422) as native (uncompressed) RGB or YBR_FULL_422
    pixel data, PlanarConfiguration 0. ``header``: DICOM keyword -> value (already
    DICOM-formatted), e.g. PatientID, StudyDate. Serialise with :func:`fundus_dicom_bytes`
    or ``dicom_writer.encode(ds, "explicit")``."""
    if photometric not in PHOTOMETRICS:
        raise ValueError(f"photometric must be one of {PHOTOMETRICS}, got {photometric!r}")
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"fundus_dicom expects a uint8 (H, W, 3) RGB image, got {rgb.dtype} {rgb.shape}")
    if photometric == "YBR_FULL_422" and rgb.shape[1] % 2:
        raise ValueError(f"YBR_FULL_422 needs an even number of columns, got {rgb.shape[1]}")
    digest = hashlib.sha256(np.ascontiguousarray(rgb).tobytes()).hexdigest()
    sop = dw.uid("fundus", photometric, digest, sorted((k, str(v)) for k, v in header.items()))
    ds = dw.base_dataset(header, "OP", sop)
    if photometric == "RGB":
        arr = np.ascontiguousarray(rgb)
    else:
        ybr = convert_color_space(rgb, "RGB", "YBR_FULL").astype(np.float32)
        # PS3.3 C.7.6.3.1.2: one Cb/Cr per horizontal pixel pair -- use the pair's mean
        chroma = (ybr[:, 0::2, 1:] + ybr[:, 1::2, 1:]) / 2.0
        ybr[:, 0::2, 1:] = chroma
        ybr[:, 1::2, 1:] = chroma
        arr = np.clip(np.floor(ybr + 0.5), 0, 255).astype(np.uint8)
    ds.set_pixel_data(arr, photometric, 8, generate_instance_uid=False)
    ds.PlanarConfiguration = 0
    ds.LossyImageCompression = "00"
    return ds


def fundus_dicom_bytes(rgb: np.ndarray, header: dict[str, object], photometric: str = "YBR_FULL_422") -> bytes:
    """:func:`fundus_dicom` as Part 10 bytes (explicit VR little endian, deterministic)."""
    return dw.encode(fundus_dicom(rgb, header, photometric), "explicit")


__all__ = ["PHOTOMETRICS", "STAGES", "ZONES", "fundus_dicom", "fundus_dicom_bytes", "fundus_rgb"]
