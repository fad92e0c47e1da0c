"""The ``window`` option: CT presets, the accepted choices and their parser (light: the
parameter checks import it without the pixel machinery; ``radtune.pixels`` re-exports it).

``WINDOW_CHOICES`` (error messages) and ``WINDOW_CHOICES_SHORT`` (help texts, config checks)
are the one place the list of window names is written; both derive from ``PRESETS``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from radtune.errors import ConfigError

#: CT presets (center, width) in Hounsfield units. ``subdural`` is 75/215 (not 80/200).
#: They only make sense for CT; for projection radiographs (DX/CR/MG) use ``file`` or
#: ``auto``: their modality values are detector units, not HU.
PRESETS: dict[str, tuple[float, float]] = {
    "brain": (40.0, 80.0),
    "subdural": (75.0, 215.0),
    "bone": (500.0, 2000.0),
}
#: the window names besides the presets and the numeric "C,W"
WINDOW_KEYWORDS: tuple[str, ...] = ("file", "auto", "minmax")
#: every accepted ``window`` value, as error messages list them
WINDOW_CHOICES = ", ".join((*WINDOW_KEYWORDS, *PRESETS)) + " or 'C,W' numbers (W >= 1)"
#: the same choices in the short form of help texts and config checks (presets alphabetical):
#: "file | auto | minmax | bone | brain | subdural | C,W"
WINDOW_CHOICES_SHORT = " | ".join((*WINDOW_KEYWORDS, *sorted(PRESETS), "C,W"))


@dataclass(frozen=True)
class WindowSpec:
    """What the caller asked for: ``kind`` in file|auto|minmax|preset|user."""

    kind: str
    name: str = ""
    center: float = 0.0
    width: float = 0.0


def parse_window(window: str) -> WindowSpec:
    """Parse the ``window`` option; unknown values raise ConfigError naming the choices."""
    w = str(window).strip().lower()
    if w in WINDOW_KEYWORDS:
        return WindowSpec(w)
    if w in PRESETS:
        c, width = PRESETS[w]
        return WindowSpec("preset", w, c, width)
    parts = w.split(",")
    if len(parts) == 2:
        try:
            c, width = float(parts[0]), float(parts[1])
        except ValueError:
            pass
        else:
            if math.isfinite(c) and math.isfinite(width) and width >= 1:
                return WindowSpec("user", w, c, width)
    raise ConfigError(f"window: unknown value {window!r}; accepted: {WINDOW_CHOICES}")


def is_window(window: object) -> bool:
    """True when `window` is an accepted ``window`` value (for the parameter checks)."""
    try:
        parse_window(str(window))
    except ConfigError:
        return False
    return True


def check_percentiles(p: object) -> tuple[float, float]:
    """The ``auto_percentiles`` option (the ``auto`` window's bounds, percent of pixels):
    (low, high) with 0 <= low < high <= 100, else ConfigError."""
    try:
        lo, hi = (float(x) for x in p)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise ConfigError(f"auto_percentiles: must be two numbers, got {p!r}") from None
    if not 0.0 <= lo < hi <= 100.0:
        raise ConfigError(f"auto_percentiles: need 0 <= low < high <= 100, got {p!r}")
    return lo, hi
