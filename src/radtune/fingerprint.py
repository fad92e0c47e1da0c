"""Image fingerprints for duplicate detection: exact pixels and a perceptual hash."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np


def pixel_sha256(image: np.ndarray) -> str:
    """Digest of the pixel values and shape (identical pixels <=> identical digest)."""
    h = hashlib.sha256(repr((image.shape, str(image.dtype))).encode())
    h.update(np.ascontiguousarray(image).tobytes())
    return h.hexdigest()


def phash(image: np.ndarray) -> str:
    """64-bit DCT perceptual hash (hex): 32x32 area resize, 8x8 low frequencies without
    the DC term, thresholded at their median. Robust to resizing, mild noise and
    brightness/contrast changes."""
    small = cv2.resize(image.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA)
    low = cv2.dct(small)[:8, :8].flatten()
    bits = low > np.median(low[1:])
    bits[0] = False
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def hamming_matrix(a: list[str], b: list[str]) -> np.ndarray:
    """Pairwise Hamming distances between two lists of hex hashes (len(a) x len(b))."""
    if not a or not b:
        return np.zeros((len(a), len(b)), dtype=np.uint8)
    x = np.array([int(h, 16) for h in a], dtype=np.uint64)[:, None]
    y = np.array([int(h, 16) for h in b], dtype=np.uint64)[None, :]
    return np.bitwise_count(x ^ y)


THUMBNAIL_SIZE = 64


def thumbnail(image: np.ndarray) -> np.ndarray:
    """64x64 area-averaged copy (uint8), enough to compare two images' pixels."""
    return cv2.resize(image, (THUMBNAIL_SIZE, THUMBNAIL_SIZE), interpolation=cv2.INTER_AREA)


def correlation(thumb_a: np.ndarray, thumb_b: np.ndarray) -> float:
    """Pearson correlation of two thumbnails: ~1 for the same picture after resizing,
    re-encoding, brightness/contrast changes or mild noise; well below for two different
    radiographs of similar anatomy."""
    a, b = thumb_a.astype(np.float64).ravel(), thumb_b.astype(np.float64).ravel()
    if a.std() == 0 or b.std() == 0:
        return float(np.array_equal(a, b))
    return float(np.corrcoef(a, b)[0, 1])
