"""Decode DICOM / JPG / PNG pixels and map them to 8-bit display values.

The chain follows PS3.3 C.11: stored values -> Modality LUT (Rescale Slope/Intercept or
Modality LUT Sequence) -> VOI (VOI LUT Sequence, or Window Center/Width with VOI LUT
Function LINEAR / LINEAR_EXACT / SIGMOID) -> MONOCHROME1 inversion -> 0..255.

The VOI output range maps linearly onto 0..255:

* window (any function): the window's output range [y_min, y_max] (PS3.3 C.11.2.1.2) is
  0..255 directly, so this equals pydicom's ``apply_windowing`` output rescaled from its
  own y_min..y_max to 0..255;
* VOI LUT Sequence: the nominal LUT output range 0 .. 2**LUTDescriptor[2] - 1 (the range
  pydicom's ``apply_voi`` output dtype stands for) maps onto 0..255;
* auto / minmax / presets / user "C,W": a LINEAR_EXACT window (lo -> 0, hi -> 255).

Speed: stored values of 8- or 16-bit integer images are bit patterns, so the whole chain is
evaluated ONCE over all 256 / 65536 patterns and applied to the image with one ``np.take``
(the "LUT path"); float and 32-bit data go through the same functions element-wise.

Every failure raises :class:`radtune.errors.InputRejected` with one line naming the file
and the DICOM tag or field at fault.

Modules (each imports only those above it):

* ``radtune.windows`` (re-exported): the ``window`` option (``PRESETS``, ``WINDOW_CHOICES``, ``parse_window``);
* ``lut``: the chain's transforms and the LUT path (``Chain``, ``apply_chain``);
* ``histogram``: value/count histograms, weighted percentiles, border bins;
* ``tags``: tag-named header access and rejections, LUT items (``read_lut``);
* ``decode``: files -> :class:`Source` (``sniff``, ``load``);
* ``colour``: files -> 8-bit RGB for colour images such as fundus photographs (``load_rgb``);
* ``voi``: Modality LUT / VOI decisions and :func:`display`.

Import from ``radtune.pixels``; the module split is an implementation detail.
"""

from __future__ import annotations

from radtune.pixels.colour import load_rgb
from radtune.pixels.decode import (
    HEADER_KEYS,
    LUMA_BT601,
    Source,
    load,
    load_dicom,
    load_image_file,
    luma,
    luma_like,
    sniff,
)
from radtune.pixels.histogram import (
    BORDER_FRACTION,
    HIST_SAMPLE_ABOVE,
    drop_border_bins,
    histogram,
    weighted_percentiles,
)
from radtune.pixels.lut import (
    VOI_FUNCTIONS,
    Chain,
    Lut,
    Modality,
    Rescale,
    Voi,
    Window,
    apply_chain,
    apply_lut,
    apply_modality,
    lut_domain,
    to_uint8,
    unsigned_view,
    voi_fraction,
    window_fraction,
)
from radtune.pixels.tags import read_lut, reject, tag_name
from radtune.pixels.voi import (
    Display,
    choose_voi,
    detector_range,
    display,
    exact_window,
    file_voi,
    modality_of,
)
from radtune.windows import (
    PRESETS,
    WINDOW_CHOICES,
    WINDOW_CHOICES_SHORT,
    WINDOW_KEYWORDS,
    WindowSpec,
    parse_window,
)

__all__ = [
    "BORDER_FRACTION",
    "HEADER_KEYS",
    "HIST_SAMPLE_ABOVE",
    "LUMA_BT601",
    "PRESETS",
    "VOI_FUNCTIONS",
    "WINDOW_CHOICES",
    "WINDOW_CHOICES_SHORT",
    "WINDOW_KEYWORDS",
    "Chain",
    "Display",
    "Lut",
    "Modality",
    "Rescale",
    "Source",
    "Voi",
    "Window",
    "WindowSpec",
    "apply_chain",
    "apply_lut",
    "apply_modality",
    "choose_voi",
    "detector_range",
    "display",
    "drop_border_bins",
    "exact_window",
    "file_voi",
    "histogram",
    "load",
    "load_dicom",
    "load_image_file",
    "load_rgb",
    "luma",
    "luma_like",
    "lut_domain",
    "modality_of",
    "parse_window",
    "read_lut",
    "reject",
    "sniff",
    "tag_name",
    "to_uint8",
    "unsigned_view",
    "voi_fraction",
    "weighted_percentiles",
    "window_fraction",
]
