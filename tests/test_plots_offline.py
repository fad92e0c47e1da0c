"""`dvc plots show` pages open without network: PNG figures declared as DVC image plots
render in headless Chromium with every request to a host refused.

A tiny git + DVC repository gets figures drawn by radtune.figures, `dvc plots show -o`
writes its HTML page, and Chromium (Debian package `chromium`; the resolver rule cuts the
network) takes a screenshot and dumps the DOM of a copy of the page with a script that
reports each <img>'s `complete` / `naturalWidth` after the load event. Pages tried:

- image plots only (top-level `plots:` in dvc.yaml): no script, no remote reference;
- image plots beside a vega plot (a stage's `plots:` with `cache: false`, the shape of
  our dvc.yaml): DVC adds vega/vega-lite/vega-embed <script> tags from a CDN; offline
  they fail (the vega plot stays empty) and the images still show;
- a vega plot alone (what we had): offline the page is blank. This also proves the
  network was cut for the other two.

Without /usr/bin/chromium the tests skip, unless RADTUNE_REQUIRE_CHROMIUM=1 (CI), where
they fail."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline_repo import dvc, run
from radtune import figures
from radtune.metrics import confusion_rows

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
WINDOW = (1400, 2400)
OFFLINE_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
    "--virtual-time-budget=8000",
]
MODEL_BLUE = (31, 119, 180)  # figures.MODEL_COLOR: the model's bars in scores.png
FRAME_RED = (214, 39, 40)  # figures.ERROR_COLOR: the montage's frame round a wrong answer
FIGURES = ("confusion.png", "scores.png", "montage.png")

IMG_CHECK = """<script>
window.addEventListener("load", function () {
  var report = {
    images: Array.prototype.map.call(document.images, function (im) {
      return {src: im.getAttribute("src"), complete: im.complete, width: im.naturalWidth, height: im.naturalHeight};
    }),
    vega_loaded: typeof vegaEmbed !== "undefined",
    vega_drawings: document.querySelectorAll("svg, canvas").length
  };
  var pre = document.createElement("pre");
  pre.id = "radtune-check";
  pre.textContent = JSON.stringify(report);
  document.body.appendChild(pre);
});
</script>
"""


def chromium() -> str:
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    if os.environ.get("RADTUNE_REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"{CHROMIUM} is missing and RADTUNE_REQUIRE_CHROMIUM=1: apt-get install chromium")
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium; RADTUNE_REQUIRE_CHROMIUM=1 makes this fail)")


def browse(page: Path, work: Path, *mode: str) -> subprocess.CompletedProcess:
    """Chromium, offline, on a file:// page; `mode` is --screenshot=... or --dump-dom."""
    profile = work / f"profile-{len(list(work.glob('profile-*')))}"
    args = [chromium(), *OFFLINE_FLAGS, f"--user-data-dir={profile}", *mode, page.as_uri()]
    r = subprocess.run(args, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, f"chromium failed ({r.returncode}): {r.stderr[-2000:]}"
    return r


def screenshot(page: Path, work: Path) -> np.ndarray:
    out = work / f"shot-{page.parent.parent.name}.png"
    browse(page, work, f"--screenshot={out}")
    bgr = cv2.imread(str(out), cv2.IMREAD_COLOR)
    assert bgr is not None, f"no screenshot at {out}"
    assert (bgr.shape[1], bgr.shape[0]) == WINDOW
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def loaded_report(page: Path, work: Path) -> dict:
    """What the page's images and scripts did offline, read back through Chromium's DOM dump
    of a copy of `page` (same folder, so the same relative image paths) with IMG_CHECK."""
    check = page.with_name("radtune-check.html")
    check.write_text(page.read_text(encoding="utf-8").replace("</body>", IMG_CHECK + "</body>"), encoding="utf-8")
    dom = browse(check, work, "--dump-dom").stdout
    found = re.search(r'<pre id="radtune-check">(.*?)</pre>', dom, re.S)
    assert found, f"the check script did not run:\n{dom[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


class References(HTMLParser):
    """Every src/href in a page, and the <img> srcs."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.refs.append(value)
                if tag == "img" and name == "src":
                    self.images.append(value)


def references(page: Path) -> References:
    parser = References()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def is_remote(ref: str) -> bool:
    return ref.startswith(("http://", "https://", "//"))


def colour_pixels(rgb: np.ndarray, colour: tuple[int, int, int], tol: int = 12) -> int:
    return int((np.abs(rgb.astype(int) - np.array(colour)).max(axis=2) <= tol).sum())


def ink(rgb: np.ndarray) -> float:
    """Share of pixels that are not (near) white."""
    return float((rgb.min(axis=2) < 235).mean())


def make_repo(dest: Path, dvc_yaml: str) -> Path:
    """git + DVC repo with radtune figures under metrics/figures, eval rows as JSON, dvc.yaml."""
    dest.mkdir(parents=True)
    run(["git", "init", "-q"], dest)
    dvc(["init", "-q"], dest)
    dvc(["config", "core.analytics", "false"], dest)
    fig_dir = dest / "metrics" / "figures"
    fig_dir.mkdir(parents=True)
    gt = [True] * 12 + [False] * 10
    pred = [True] * 10 + [False, None] + [False] * 9 + [True]
    rows = confusion_rows(gt, pred, "fracture", "no_fracture")
    (dest / "metrics" / "eval_confusion.json").write_text(json.dumps(rows))
    figures.confusion_png(rows, fig_dir / "confusion.png", "fracture (test)")
    bars = {
        "fracture_accuracy": {"model": {"value": 0.86, "ci95": [0.67, 0.95]}, "majority": 0.55},
        "bone_age_mae": {"model": 14.2, "mean predictor": 24.1},
    }
    figures.scores_png(bars, fig_dir / "scores.png", "test scores")
    items = []
    for i in range(4):
        image = np.tile(np.linspace(10, 240, 96, dtype=np.uint8), (128, 1))
        image[30:60, 20 + 10 * i : 50 + 10 * i] = 255
        cv2.imwrite(str(dest / f"im{i}.jpg"), image)
        items.append({"image": str(dest / f"im{i}.jpg"), "truth": "fracture", "answer": "?", "correct": i % 2 == 1})
    figures.montage_png(figures.errors_first(items), fig_dir / "montage.png", "test answers", columns=4)
    (dest / "dvc.yaml").write_text(dvc_yaml)
    return dest


def plots_show(repo: Path) -> Path:
    dvc(["plots", "show", "-o", "plots_html"], repo)
    page = repo / "plots_html" / "index.html"
    assert page.is_file()
    return page


IMAGES_ONLY = """\
plots:
  - metrics/figures/confusion.png
  - metrics/figures/scores.png
  - metrics/figures/montage.png
"""

WITH_VEGA = """\
stages:
  eval:
    cmd: python -c "print('figures are drawn by the test')"
    plots:
      - metrics/eval_confusion.json:
          cache: false
          template: confusion
          x: predicted
          y: actual
      - metrics/figures/confusion.png:
          cache: false
      - metrics/figures/scores.png:
          cache: false
      - metrics/figures/montage.png:
          cache: false
"""

VEGA_ONLY = """\
plots:
  - metrics/eval_confusion.json:
      template: confusion
      x: predicted
      y: actual
"""


def check_images_render(repo: Path, page: Path, work: Path) -> dict:
    """Every <img> is a local copy of one of our figures, Chromium loaded each at its size,
    and the screenshot shows them (the model's blue bars, the montage's red frame)."""
    refs = references(page)
    assert len(refs.images) == len(FIGURES)
    assert not [src for src in refs.images if is_remote(src) or src.startswith("data:")]
    ours = {(repo / "metrics" / "figures" / name).read_bytes() for name in FIGURES}
    copies = {(page.parent / src).read_bytes() for src in refs.images}
    assert copies == ours  # DVC copied our PNGs unchanged next to the page

    report = loaded_report(page, work)
    sizes = {}
    for src in refs.images:
        h, w = cv2.imread(str(page.parent / src), cv2.IMREAD_UNCHANGED).shape[:2]
        sizes[src] = (w, h)
    assert {im["src"]: (im["width"], im["height"]) for im in report["images"]} == sizes
    assert all(im["complete"] and im["width"] > 0 for im in report["images"])

    shot = screenshot(page, work)
    assert ink(shot) > 0.05, f"offline page looks blank ({ink(shot):.1%} ink)"
    assert colour_pixels(shot, MODEL_BLUE) > 2000, "the scores figure is not on the screenshot"
    assert colour_pixels(shot, FRAME_RED) > 1000, "the montage's red frame is not on the screenshot"
    return report


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    chromium()  # skip (or fail under RADTUNE_REQUIRE_CHROMIUM=1) before building repos
    return tmp_path_factory.mktemp("plots_offline")


def test_image_plots_render_offline(work):
    repo = make_repo(work / "images", IMAGES_ONLY)
    page = plots_show(repo)
    refs = references(page)
    assert not [r for r in refs.refs if is_remote(r)], "the page asks the network for something"
    assert "<script" not in page.read_text(encoding="utf-8")
    report = check_images_render(repo, page, work)
    assert report["vega_drawings"] == 0


def test_image_plots_render_offline_beside_cdn_vega_plots(work):
    repo = make_repo(work / "mixed", WITH_VEGA)
    page = plots_show(repo)
    remote = [r for r in references(page).refs if is_remote(r)]
    assert remote and all(re.search(r"/vega(-lite|-embed)?@", r) for r in remote), remote  # only DVC's CDN scripts
    report = check_images_render(repo, page, work)
    assert report["vega_loaded"] is False  # the CDN is out of reach: the vega plot stays empty
    assert report["vega_drawings"] == 0


def test_vega_only_page_is_blank_offline(work):
    """The problem being fixed, and a proof that the network is really cut: DVC's own vega
    plot draws nothing without its CDN scripts."""
    repo = make_repo(work / "vega", VEGA_ONLY)
    page = plots_show(repo)
    assert not references(page).images
    report = loaded_report(page, work)
    assert report["vega_loaded"] is False and report["vega_drawings"] == 0
    shot = screenshot(page, work)
    assert ink(shot) < 0.002, f"expected a blank page offline, got {ink(shot):.1%} ink"


def test_chromium_requirement_is_enforced(monkeypatch):
    """The skip/fail switch: a missing browser skips, or fails under RADTUNE_REQUIRE_CHROMIUM=1."""
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.delenv("RADTUNE_REQUIRE_CHROMIUM", raising=False)
    with pytest.raises(pytest.skip.Exception):
        chromium()
    monkeypatch.setenv("RADTUNE_REQUIRE_CHROMIUM", "1")
    with pytest.raises(pytest.fail.Exception):
        chromium()
