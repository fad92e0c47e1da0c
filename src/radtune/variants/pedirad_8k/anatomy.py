"""Procedural pediatric hand / wrist / forearm anatomy, rasterised in integer space.

Geometry lives in "hand units": ``u`` is lateral (towards the thumb), ``v`` is distal
(towards the fingers), the wrist (distal radial metaphysis) is at ``v = 0`` and the tip of
the middle finger near ``v = 1``. A :class:`Frame` maps hand units to pixels.

Determinism: only IEEE basic operations (+ - * / sqrt) touch coordinates, angles are given
as rational half-angle parameters ``t`` (cos = (1-t^2)/(1+t^2), sin = 2t/(1+t^2)), polygons
are filled by OpenCV's integer rasteriser and blurred with exact integer box sums, so the
same inputs give the same pixels on any CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

# Attenuation units (added where structures overlap); the exposure model maps them to pixels.
SOFT = 190  # one soft-tissue layer (four nested layers make a rounded limb)
BONE = 900  # cortex + medulla of a long bone
MEDULLA = -330  # medullary canal (less dense than cortex)
EPI = 700  # epiphysis / carpal bone
EPI_CORE = -140

SUB = 16  # OpenCV sub-pixel shift 4


def _circle(n: int = 10) -> np.ndarray:
    """Points on the unit circle from a rational parametrisation (exact basic ops)."""
    t = np.arange(-n, n, dtype=np.float64) / n
    c, s = (1 - t * t) / (1 + t * t), 2 * t / (1 + t * t)
    right = np.stack([c, s], axis=1)
    return np.concatenate([right, -right])


CIRCLE = _circle()
HALF = CIRCLE[: len(CIRCLE) // 2 + 1]  # angles -90..+90 degrees (cos >= 0)


def rot(t: float) -> tuple[float, float]:
    """(cos, sin) of the angle whose half-angle tangent is ``t`` (about 2t radians)."""
    return (1 - t * t) / (1 + t * t), 2 * t / (1 + t * t)


@dataclass(frozen=True)
class Rigid:
    """Rotate about ``pivot`` by angle parameter ``t``, then translate by ``shift``."""

    pivot: tuple[float, float] = (0.0, 0.0)
    t: float = 0.0
    shift: tuple[float, float] = (0.0, 0.0)

    def apply(self, p: np.ndarray) -> np.ndarray:
        c, s = rot(self.t)
        x, y = p[:, 0] - self.pivot[0], p[:, 1] - self.pivot[1]
        return np.stack(
            [self.pivot[0] + c * x - s * y + self.shift[0], self.pivot[1] + s * x + c * y + self.shift[1]], 1
        )


@dataclass(frozen=True)
class Shape:
    """A filled polygon (hand units) that adds ``value`` attenuation."""

    pts: np.ndarray
    value: int


def ellipse(center: tuple[float, float], ru: float, rv: float, t: float = 0.0, skew: float = 0.0) -> np.ndarray:
    """Ellipse polygon, rotated by angle parameter ``t``; ``skew`` tilts its top edge."""
    e = np.stack([CIRCLE[:, 0] * ru, CIRCLE[:, 1] * rv], 1)
    e[:, 1] += skew * np.maximum(e[:, 1], 0) / max(rv, 1e-9) * e[:, 0]
    return Rigid((0.0, 0.0), t, center).apply(e)


# ----------------------------------------------------------------------------- long bones


@dataclass(frozen=True)
class Epiphysis:
    half_width: float
    half_height: float
    gap: float  # physis (cartilage) gap between metaphysis and epiphysis
    skew: float = 0.0


@dataclass(frozen=True)
class LongBone:
    """A tubular bone from ``p0`` (proximal) to ``p1`` (distal); ``knots`` = (t, half width)."""

    name: str
    p0: tuple[float, float]
    p1: tuple[float, float]
    knots: tuple[tuple[float, float], ...]
    cortex: float = 0.28  # cortical thickness as a fraction of the half width
    distal_epi: Epiphysis | None = None
    proximal_epi: Epiphysis | None = None

    @property
    def length(self) -> float:
        du, dv = self.p1[0] - self.p0[0], self.p1[1] - self.p0[1]
        return float(np.sqrt(du * du + dv * dv))

    def axis(self) -> tuple[np.ndarray, np.ndarray]:
        """Unit direction (proximal -> distal) and unit normal (to the left of it)."""
        d = (np.array(self.p1) - np.array(self.p0)) / self.length
        return d, np.array([-d[1], d[0]])

    def point(self, t: float, side: float = 0.0) -> np.ndarray:
        """The point at fraction ``t`` along the axis, ``side`` half widths to the left."""
        d, n = self.axis()
        return np.array(self.p0) + d * (t * self.length) + n * (side * self.halfwidth(t))

    def halfwidth(self, t: float | np.ndarray) -> np.ndarray:
        ts, ws = zip(*self.knots)
        return np.interp(t, ts, ws)


@dataclass(frozen=True)
class Fracture:
    """A fracture of one bone. ``kind`` is one of labels.FRACTURE_TYPES.

    ``t`` is the position along the bone (0 proximal .. 1 distal). The distal fragment (and
    the distal epiphysis) is moved by ``move``; the cut runs from the left edge at
    ``t + slant`` to the right edge at ``t - slant``; ``gap`` is in hand units."""

    kind: str
    bone: str
    t: float
    move: Rigid
    gap: float = 0.0
    slant: float = 0.0
    bulge: float = 0.0  # buckle: extra half width at the fracture, fraction of the half width


def _edge(b: LongBone, ts: np.ndarray, side: float, shrink: float) -> np.ndarray:
    d, n = b.axis()
    hw = b.halfwidth(ts) * shrink * side
    base = np.array(b.p0)[None, :] + d[None, :] * (ts * b.length)[:, None]
    return base + n[None, :] * hw[:, None]


def _cap(b: LongBone, t: float, shrink: float, distal: bool) -> np.ndarray:
    """Rounded end cap (right edge -> left edge going around the end)."""
    d, n = b.axis()
    hw = float(b.halfwidth(t)) * shrink
    sgn = 1.0 if distal else -1.0
    c = b.point(t)
    pts = c[None, :] + d[None, :] * (sgn * 0.35 * hw * HALF[:, 0:1]) + n[None, :] * (sgn * hw * HALF[:, 1:2])
    return pts


def _ts(a: float, b: float, step: float = 0.02) -> np.ndarray:
    if b <= a:
        return np.array([b])
    k = max(2, int((b - a) / step) + 1)
    return a + (b - a) * np.arange(k + 1, dtype=np.float64) / k


def _piece(
    b: LongBone, left: tuple[float, float], right: tuple[float, float], shrink: float, cap0: bool, cap1: bool
) -> np.ndarray:
    """Polygon of the bone between the cuts: left edge t in ``left``, right edge in ``right``."""
    le = _edge(b, _ts(*left), 1.0, shrink)
    re = _edge(b, _ts(*right), -1.0, shrink)
    parts = [le]
    if cap1:
        parts.append(_cap(b, 1.0, shrink, True)[::-1])
    parts.append(re[::-1])
    if cap0:
        parts.append(_cap(b, 0.0, shrink, False)[::-1])
    return np.concatenate(parts)


def _epiphysis_shapes(b: LongBone, distal: bool) -> list[Shape]:
    e = b.distal_epi if distal else b.proximal_epi
    if e is None:
        return []
    d, _ = b.axis()
    sgn = 1.0 if distal else -1.0
    end = b.point(1.0 if distal else 0.0)
    c = end + d * (sgn * (e.gap + e.half_height))
    t = float(-d[0] / (1 + d[1])) if d[1] > -0.999 else 0.0  # rotate +v onto the bone axis
    outer = ellipse((float(c[0]), float(c[1])), e.half_width, e.half_height, t, e.skew if distal else -e.skew)
    inner = ellipse((float(c[0]), float(c[1])), e.half_width * 0.6, e.half_height * 0.5, t)
    return [Shape(outer, EPI), Shape(inner, EPI_CORE)]


def bone_shapes(b: LongBone, frac: Fracture | None = None) -> list[Shape]:
    """Shapes of one long bone (cortex, medulla, epiphyses), fractured if ``frac`` is given."""
    inner = 1.0 - b.cortex
    if frac is not None and frac.kind == "buckle":
        return _buckle_shapes(b, frac)
    if frac is None:
        out = [Shape(_piece(b, (0, 1), (0, 1), 1.0, True, True), BONE)]
        out.append(Shape(_piece(b, (0.03, 0.97), (0.03, 0.97), inner, False, False), MEDULLA))
        return out + _epiphysis_shapes(b, True) + _epiphysis_shapes(b, False)
    g = frac.gap / b.length / 2
    tl, tr = min(frac.t + frac.slant, 1.0), frac.t - frac.slant
    prox = [
        Shape(_piece(b, (0, tl - g), (0, tr - g), 1.0, True, False), BONE),
        Shape(_piece(b, (0.03, tl - g), (0.03, tr - g), inner, False, False), MEDULLA),
    ]
    dist = [
        Shape(_piece(b, (min(tl + g, 1.0), 1), (tr + g, 1), 1.0, False, True), BONE),
        Shape(_piece(b, (min(tl + g, 0.97), 0.97), (min(tr + g, 0.97), 0.97), inner, False, False), MEDULLA),
    ]
    dist += _epiphysis_shapes(b, True)
    moved = [Shape(frac.move.apply(s.pts), s.value) for s in dist]
    return prox + moved + _epiphysis_shapes(b, False)


def _buckle_shapes(b: LongBone, frac: Fracture) -> list[Shape]:
    """Torus fracture: the cortex bulges out on both sides, a dense band crosses the bone."""
    ts = np.array([k / 100 for k in range(101)])
    hw = b.halfwidth(ts)
    z = (ts - frac.t) * b.length / 0.03
    bump = frac.bulge / (1 + z * z)
    knots = tuple((float(t), float(w * (1 + k))) for t, w, k in zip(ts, hw, bump))
    bb = replace(b, knots=knots)
    out = bone_shapes(bb, None)
    band = _piece(bb, (frac.t - 0.02, frac.t + 0.02), (frac.t - 0.02, frac.t + 0.02), 0.95, False, False)
    out.append(Shape(band, 420))
    return [Shape(frac.move.apply(s.pts), s.value) if _is_distal(bb, s, frac.t) else s for s in out]


def _is_distal(b: LongBone, s: Shape, t: float) -> bool:
    d, _ = b.axis()
    proj = (s.pts[:, 0] - b.p0[0]) * d[0] + (s.pts[:, 1] - b.p0[1]) * d[1]
    return bool(proj.min() > t * b.length + 0.03)


# ----------------------------------------------------------------------------- the hand


@dataclass(frozen=True)
class View:
    """Projection: ``spread`` squeezes lateral positions (PA 1, oblique ~0.6, lateral ~0.2)."""

    name: str  # PA | LAT | OBL
    spread: float
    fan: float  # finger fan (1 = spread fingers)
    soft: float  # soft-tissue width factor


VIEWS = {"PA": View("PA", 1.0, 1.0, 1.0), "OBL": View("OBL", 0.62, 0.7, 0.85), "LAT": View("LAT", 0.18, 0.15, 0.7)}

# carpal bones: (name, u, v, ru, rv, onset months of ossification)
CARPALS = (
    ("capitate", 0.0, 0.215, 0.040, 0.055, 3),
    ("hamate", -0.066, 0.205, 0.035, 0.045, 4),
    ("triquetrum", -0.100, 0.135, 0.030, 0.028, 30),
    ("lunate", -0.030, 0.120, 0.035, 0.030, 42),
    ("trapezium", 0.120, 0.205, 0.030, 0.032, 60),
    ("scaphoid", 0.058, 0.125, 0.034, 0.044, 66),
    ("trapezoid", 0.070, 0.228, 0.025, 0.030, 68),
    ("pisiform", -0.118, 0.112, 0.018, 0.018, 108),
)

# fingers 2..5: (base u, direction t, metacarpal, proximal, middle, distal phalanx lengths)
FINGERS = (
    (0.078, 0.085, 0.30, 0.20, 0.12, 0.080),
    (0.026, 0.018, 0.29, 0.22, 0.14, 0.090),
    (-0.026, -0.045, 0.26, 0.20, 0.13, 0.085),
    (-0.074, -0.105, 0.24, 0.16, 0.10, 0.075),
)
# half widths (shaft, end) per segment: metacarpal, proximal, middle, distal
SEG_HW = ((0.024, 0.032), (0.021, 0.027), (0.017, 0.021), (0.014, 0.018))
SEG_ONSET = (18, 14, 20, 24)  # months: epiphysis onset (MC distal, phalanges proximal)


def carpal_count(bone_age: float) -> int:
    """Number of ossified carpal bones at this bone age."""
    return sum(1 for c in CARPALS if bone_age >= c[5])


def _grow(bone_age: float, onset: float, span: float) -> float:
    """0 before ``onset``, then 0.25 -> 1 (square-root growth over ``span`` months)."""
    if bone_age < onset:
        return 0.0
    return min(1.0, 0.25 + 0.75 * float(np.sqrt((bone_age - onset) / span)))


def maturity(bone_age: float) -> float:
    return min(1.0, max(0.0, bone_age / 168.0))


def forearm_bones(bone_age: float, view: View) -> dict[str, LongBone]:
    """Radius and ulna with age-dependent distal epiphyses and physis gaps."""
    m = maturity(bone_age)
    gap = 0.012 + 0.032 * (1 - m)
    lat = view.name == "LAT"
    ru, uu = (0.02, -0.012) if lat else (0.11 * view.spread, -0.088 * view.spread)
    dist_hw = 0.058 if lat else 0.075
    g_r = _grow(bone_age, 11, 120)
    g_u = _grow(bone_age, 72, 70)
    r_epi = Epiphysis(dist_hw * (0.35 + 0.62 * g_r), 0.010 + 0.022 * g_r, gap, 0.0 if lat else 0.55) if g_r else None
    u_epi = Epiphysis(0.045 * (0.4 + 0.55 * g_u), 0.008 + 0.016 * g_u, gap) if g_u else None
    radius = LongBone(
        "radius",
        (ru + 0.012, -1.35),
        (ru, 0.0),
        ((0, 0.045), (0.5, 0.037), (0.78, 0.044), (0.92, 0.058), (1, dist_hw)),
        0.3,
        r_epi,
    )
    ulna = LongBone(
        "ulna",
        (uu - 0.004, -1.38),
        (uu, -0.03),
        ((0, 0.05), (0.5, 0.031), (0.86, 0.032), (1, 0.045 if not lat else 0.04)),
        0.32,
        u_epi,
    )
    return {"radius": radius, "ulna": ulna}


def _ray(
    base: tuple[float, float],
    t_dir: float,
    lengths: tuple[float, ...],
    segs: tuple[int, ...],
    bone_age: float,
    joint: float,
    thumb: bool,
) -> list[LongBone]:
    """Bones of one finger ray, from the metacarpal base outwards."""
    c, s = rot(t_dir)
    d = np.array([s, c])  # +v tilted towards +u (the thumb side) for t > 0
    m = maturity(bone_age)
    trim = 0.022 * (1 - m)  # unossified cartilage at the bone ends of young children
    out = []
    p = np.array(base, dtype=np.float64)
    for k, (ln, seg) in enumerate(zip(lengths, segs)):
        a, b = p + d * trim, p + d * (ln - trim)
        hs, he = SEG_HW[seg]
        hs, he = hs * (0.85 if thumb and seg else 1.0), he * (0.85 if thumb and seg else 1.0)
        g = _grow(bone_age, SEG_ONSET[seg], 110)
        epi = Epiphysis(he * (0.35 + 0.6 * g), he * (0.25 + 0.35 * g), 0.006 + 0.018 * (1 - m)) if g else None
        distal_epi = epi if (seg == 0 and not thumb) else None
        prox_epi = epi if (seg > 0 or thumb) else None
        knots = ((0, he), (0.2, hs), (0.8, hs), (1, he))
        out.append(
            LongBone(
                f"ray{k}", (float(a[0]), float(a[1])), (float(b[0]), float(b[1])), knots, 0.3, distal_epi, prox_epi
            )
        )
        p = p + d * (ln + joint)
    return out


def hand_bones(bone_age: float, view: View) -> list[LongBone]:
    """Metacarpals and phalanges of the four fingers and the thumb."""
    bones: list[LongBone] = []
    joint = 0.018 + 0.012 * (1 - maturity(bone_age))
    for u, td, mc, pp, mp, dp in FINGERS:
        bones += _ray((u * view.spread, 0.29), td * view.fan, (mc, pp, mp, dp), (0, 1, 2, 3), bone_age, joint, False)
    thumb_u = 0.15 * view.spread + (0.02 if view.name == "LAT" else 0.0)
    bones += _ray((thumb_u, 0.255), 0.32 * view.fan + 0.06, (0.17, 0.14, 0.10), (0, 1, 3), bone_age, joint, True)
    return bones


def carpal_shapes(bone_age: float, view: View) -> list[Shape]:
    out = []
    for name, u, v, ru, rv, onset in CARPALS:
        g = _grow(bone_age, onset, 90)
        if not g:
            continue
        t = 0.25 if name == "scaphoid" else 0.0
        c = (u * view.spread, v)
        out.append(Shape(ellipse(c, ru * g, rv * g, t), EPI))
        out.append(Shape(ellipse(c, ru * g * 0.55, rv * g * 0.55, t), EPI_CORE))
    return out


def _limb(center_u: float, rows: list[tuple[float, float]], scale: float) -> np.ndarray:
    """A limb outline from (v, half width) rows, symmetric about ``center_u``."""
    left = np.array([(center_u + w * scale, v) for v, w in rows])
    right = np.array([(center_u - w * scale, v) for v, w in rows])
    return np.concatenate([left, right[::-1]])


LAYERS = (1.0, 0.88, 0.7, 0.45)


def soft_tissue_shapes(bone_age: float, view: View, chubby: float) -> list[Shape]:
    """Forearm, palm and finger soft tissue as three nested layers (rounded thickness)."""
    w = view.soft * chubby
    forearm = [
        (-1.6, 0.27),
        (-0.8, 0.255),
        (-0.2, 0.225),
        (0.05, 0.215),
        (0.3, 0.25 if view.name != "LAT" else 0.2),
        (0.56, 0.245 if view.name != "LAT" else 0.18),
        (0.61, 0.22 if view.name != "LAT" else 0.15),
        (0.64, 0.16 if view.name != "LAT" else 0.1),
    ]
    out = []
    for layer in LAYERS:
        out.append(Shape(_limb(0.015 * view.spread, forearm, w * layer), SOFT))
    for bones in _finger_lines(bone_age, view):
        p0, p1, hw = bones
        for layer in LAYERS:
            out.append(Shape(_capsule(p0, p1, hw * layer * chubby), SOFT))
    return out


def _finger_lines(bone_age: float, view: View) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """(start, end, half width) of each finger's soft tissue, from the knuckle to the tip."""
    out = []
    bones = hand_bones(bone_age, view)
    rays = [bones[i : i + 4] for i in range(0, 16, 4)] + [bones[16:19]]
    for k, ray in enumerate(rays):
        d, _ = ray[-1].axis()
        start = np.array(ray[0].p1) - d * (0.02 if k < 4 else 0.09)
        end = np.array(ray[-1].p1) + d * 0.025
        out.append((start, end, 0.046 if k < 4 else 0.05))
    return out


def _capsule(p0: np.ndarray, p1: np.ndarray, r: float) -> np.ndarray:
    d = p1 - p0
    ln = float(np.sqrt(d[0] * d[0] + d[1] * d[1]))
    d = d / ln
    n = np.array([-d[1], d[0]])
    cap1 = p1[None, :] + d[None, :] * (r * HALF[:, 0:1]) + n[None, :] * (r * HALF[:, 1:2])
    cap0 = p0[None, :] - d[None, :] * (r * HALF[:, 0:1]) - n[None, :] * (r * HALF[:, 1:2])
    return np.concatenate([cap1, cap0])


def swelling_shapes(center: np.ndarray, strength: float, view: View, chubby: float) -> list[Shape]:
    """Soft-tissue swelling around a fracture site: a local widening of the limb outline,
    centred between the forearm axis and the broken bone."""
    c = (float(center[0]) * 0.5 + 0.0075 * view.spread, float(center[1]))
    ru = 0.26 * view.soft * chubby
    return [Shape(ellipse(c, ru * k, 0.16 * k), int(SOFT * strength)) for k in (1.0, 0.85, 0.7, 0.55, 0.4)]


def scene(
    bone_age: float, view: View, fracture: Fracture | None, chubby: float = 1.0
) -> tuple[list[Shape], list[Shape]]:
    """(soft-tissue shapes, bone shapes) of one projection, the fracture applied to its bone."""
    soft = soft_tissue_shapes(bone_age, view, chubby)
    fore = forearm_bones(bone_age, view)
    if fracture is not None:
        soft += swelling_shapes(fore[fracture.bone].point(fracture.t), 0.9, view, chubby)
    bones: list[Shape] = []
    for name in ("ulna", "radius"):
        f = fracture if fracture is not None and fracture.bone == name else None
        bones += bone_shapes(fore[name], f)
    bones += carpal_shapes(bone_age, view)
    for b in hand_bones(bone_age, view):
        bones += bone_shapes(b)
    return soft, bones


# ----------------------------------------------------------------------------- raster


@dataclass(frozen=True)
class Frame:
    """Hand units -> pixels: x = cx + mirror * u * scale, y = wrist_y - v * scale."""

    cx: float
    wrist_y: float
    scale: float
    mirror: int  # +1 or -1 (left / right hand)

    def to_px(self, p: np.ndarray) -> np.ndarray:
        return np.stack([self.cx + self.mirror * p[:, 0] * self.scale, self.wrist_y - p[:, 1] * self.scale], 1)


def rasterize(shapes: list[Shape], frame: Frame, shape: tuple[int, int]) -> np.ndarray:
    """Sum of the shapes' values (int32 image), each polygon filled with 1/16 px precision."""
    h, w = shape
    acc = np.zeros(shape, dtype=np.int32)
    for s in shapes:
        px = frame.to_px(s.pts)
        x0, y0 = max(int(np.floor(px[:, 0].min())), 0), max(int(np.floor(px[:, 1].min())), 0)
        x1, y1 = min(int(np.ceil(px[:, 0].max())) + 1, w), min(int(np.ceil(px[:, 1].max())) + 1, h)
        if x1 <= x0 or y1 <= y0:
            continue
        mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
        pts = np.rint((px - np.array([x0, y0], dtype=np.float64)) * SUB).astype(np.int32)
        cv2.fillPoly(mask, [pts], 1, cv2.LINE_8, 4)
        acc[y0:y1, x0:x1] += mask.astype(np.int32) * s.value
    return acc


def box_blur(img: np.ndarray, radius: int) -> np.ndarray:
    """Exact integer box blur (float32 sums of integers < 2**24 are exact), floor-divided."""
    if radius <= 0:
        return img
    k = 2 * radius + 1
    assert int(np.abs(img).max()) * k * k < 2**24, "box_blur: values too large for exact float32 sums"
    s = cv2.boxFilter(img.astype(np.float32), -1, (k, k), normalize=False, borderType=cv2.BORDER_REFLECT)
    return np.floor_divide(np.rint(s).astype(np.int64), k * k).astype(np.int32)
