"""Letterbox resizing and deterministic image encoding (OpenCV, fixed parameters)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

ENCODE_FORMATS = ("jpg", "png")
PNG_COMPRESSION = 6


def fit(h: int, w: int, size: int) -> tuple[int, int, float]:
    """(rows, columns, scale) of an h x w image fitted into size x size with its aspect
    ratio kept (size 0: the native size)."""
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    if size == 0:
        return h, w, 1.0
    scale = min(size / h, size / w)
    return max(1, min(size, round(h * scale))), max(1, min(size, round(w * scale))), scale


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, dict[str, int], float]:
    """Fit ``image`` (uint8, HxW or HxWxC) into ``size`` x ``size`` keeping the aspect ratio, centred
    on black (0). Shrinking uses INTER_AREA, enlarging INTER_LINEAR (INTER_AREA degenerates
    to nearest-like sampling when enlarging). ``size == 0`` keeps the native size.

    Returns (output, padding {"top","bottom","left","right"}, scale = output px per source px).
    """
    h, w = image.shape[:2]
    nh, nw, scale = fit(h, w, size)
    if size == 0:
        return image, {"top": 0, "bottom": 0, "left": 0, "right": 0}, 1.0
    if (nh, nw) == (h, w):
        resized = image
    else:
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        resized = cv2.resize(image, (nw, nh), interpolation=interp).reshape(nh, nw, *image.shape[2:])
    top, left = (size - nh) // 2, (size - nw) // 2
    pad = {"top": top, "bottom": size - nh - top, "left": left, "right": size - nw - left}
    out = np.zeros((size, size, *image.shape[2:]), dtype=image.dtype)
    out[top : top + nh, left : left + nw] = resized
    return out, pad, float(scale)


def content_mask(shape: tuple[int, int], padding: dict[str, int]) -> np.ndarray:
    """Boolean mask of the non-padding area."""
    mask = np.zeros(shape, dtype=bool)
    h, w = shape
    mask[padding["top"] : h - padding["bottom"], padding["left"] : w - padding["right"]] = True
    return mask


def format_for_suffix(suffix: str) -> str:
    """'.jpg'/'.jpeg' -> 'jpg', '.png' -> 'png'; anything else raises ValueError."""
    s = suffix.lower().lstrip(".")
    if s in ("jpg", "jpeg"):
        return "jpg"
    if s == "png":
        return "png"
    raise ValueError(f"unsupported image suffix {suffix!r} (use .jpg, .jpeg or .png)")


def encode_image(image: np.ndarray, fmt: str = "jpg", jpeg_quality: int = 95) -> bytes:
    """Encode a uint8 grey (H, W) or RGB (H, W, 3) image deterministically: baseline
    (non-progressive, non-optimised) JPEG with fixed quality, or PNG at compression 6."""
    is_rgb = image.ndim == 3 and image.shape[2] == 3
    if image.dtype != np.uint8 or not (image.ndim == 2 or is_rgb):
        raise ValueError(f"encode_image expects a uint8 (H, W) or (H, W, 3) image, got {image.dtype} {image.shape}")
    if is_rgb:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    fmt = format_for_suffix(fmt)
    if fmt == "jpg":
        params = [
            cv2.IMWRITE_JPEG_QUALITY,
            int(jpeg_quality),
            cv2.IMWRITE_JPEG_OPTIMIZE,
            0,
            cv2.IMWRITE_JPEG_PROGRESSIVE,
            0,
        ]
        ok, buf = cv2.imencode(".jpg", image, params)
    else:
        ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape} image as {fmt}")
    return buf.tobytes()


def read_image(path: str | Path) -> np.ndarray | None:
    """An image file as uint8 grey (H, W) or RGB (H, W, 3) (as `encode_image` wrote it), or
    None if it cannot be read."""
    return _rgb(cv2.imread(str(path), cv2.IMREAD_UNCHANGED))


def decode_image(data: bytes) -> np.ndarray | None:
    """Encoded image bytes as `read_image` gives the file holding them, or None."""
    return _rgb(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED))


def _rgb(image: np.ndarray | None) -> np.ndarray | None:
    """OpenCV's decoded image with colour as RGB (OpenCV decodes BGR)."""
    if image is None:
        return None
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if image.ndim == 3 else image
