"""radtune.figures: every figure is a PNG that decodes, has the planned size, shows something,
and has the same bytes when drawn twice (also in another process, also under a changed
matplotlib style); the montage keeps the caller's order and frames wrong answers in red."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from radtune import figures
from radtune.metrics import confusion_rows
from radtune.variants.ct_v4.analysis import plot_tables as ct_plot_tables
from radtune.variants.pedirad_8k.stats import plot_tables as pedirad_plot_tables

RED = (214, 39, 40)  # figures.ERROR_COLOR


def decode(path: Path) -> np.ndarray:
    """RGB array of a PNG, checked with two decoders (OpenCV and Pillow agree)."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, f"OpenCV cannot decode {path}"
    with Image.open(path) as im:
        assert im.format == "PNG"
        pil = np.asarray(im.convert("RGB"))
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    assert np.array_equal(rgb, pil)
    return rgb


def png_chunks(path: Path) -> list[str]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, names = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        names.append(data[pos + 4 : pos + 8].decode("ascii"))
        pos += 12 + length
    return names


def check_png(path: Path, size: tuple[int, int], draw) -> np.ndarray:
    """Decodes at `size` (width, height), is not blank, carries no text/time chunk, and
    redrawing gives identical bytes."""
    rgb = decode(path)
    assert (rgb.shape[1], rgb.shape[0]) == size
    assert rgb.std() > 20, "figure looks blank"
    assert (rgb.min(axis=2) < 200).mean() > 0.02, "almost no ink on the figure"
    assert not {"tEXt", "iTXt", "zTXt", "tIME"} & set(png_chunks(path))
    again = path.with_name("again_" + path.name)
    draw(again)
    assert again.read_bytes() == path.read_bytes(), "same inputs, different bytes"
    return rgb


def colour_mask(rgb: np.ndarray, colour: tuple[int, int, int] = RED, tol: int = 30) -> np.ndarray:
    return np.abs(rgb.astype(int) - np.array(colour)).max(axis=2) <= tol


# --- confusion ----------------------------------------------------------------------------


GT = [True] * 7 + [False] * 5
PRED = [True] * 5 + [False, None] + [False] * 4 + [True]


def test_confusion_matrix_matches_sklearn():
    rows = confusion_rows(GT, PRED, "fracture", "no_fracture")
    actual, predicted, counts = figures.confusion_matrix(rows)
    assert actual == ["fracture", "no_fracture"]
    assert predicted == ["fracture", "no_fracture", "invalid"]
    ref = sk_confusion_matrix([r["actual"] for r in rows], [r["predicted"] for r in rows], labels=predicted)
    assert counts.tolist() == ref[:2].tolist()
    assert counts.sum() == len(GT)


def test_confusion_png(tmp_path):
    rows = confusion_rows(GT, PRED, "fracture", "no_fracture")
    draw = lambda p: figures.confusion_png(rows, p, "fracture (test)")
    draw(tmp_path / "confusion.png")
    # 3 answer columns (invalid included) x 2 truth rows: (2.6 + 1.25 * 3) x (2 + 1 * 2) inches at 100 dpi
    rgb = check_png(tmp_path / "confusion.png", (635, 400), draw)
    assert colour_mask(rgb, (8, 48, 107), tol=10).sum() > 1000  # the largest count's cell in Blues' darkest blue
    two = confusion_rows(GT, [g for g in GT], "fracture", "no_fracture")
    figures.confusion_png(two, tmp_path / "two.png", "2x2")
    assert decode(tmp_path / "two.png").shape[:2] == (400, 510)


def test_confusion_png_with_no_rows_still_draws(tmp_path):
    figures.confusion_png([], tmp_path / "empty.png", "nothing")
    assert decode(tmp_path / "empty.png").shape[:2] == (400, 510)


# --- scores -------------------------------------------------------------------------------


BARS = {
    "fracture_accuracy": {
        "model": {"value": 0.91, "ci95": [0.81, 0.96]},
        "majority": 0.55,
        "no image": {"value": 0.56, "ci95": [0.43, 0.68]},
    },
    "bone_age_mae": {"model": 22.4, "mean predictor": 24.1},
}


def test_scores_png(tmp_path):
    draw = lambda p: figures.scores_png(BARS, p, "test scores")
    draw(tmp_path / "scores.png")
    # 8 in wide; panels 0.45 * 3 + 0.55 and 0.45 * 2 + 0.55 in, plus 0.8 in of title
    rgb = check_png(tmp_path / "scores.png", (800, 415), draw)
    assert colour_mask(rgb, (31, 119, 180), tol=10).sum() > 1000  # the model's bars in MODEL_COLOR


def test_scores_png_missing_value_and_bad_interval(tmp_path):
    bars = {"bone_age_mae": {"model": 20.0, "chronological age": None, "text only": float("nan")}}
    figures.scores_png(bars, tmp_path / "s.png", "with gaps")
    assert decode(tmp_path / "s.png").std() > 20
    with pytest.raises(ValueError, match="ci95"):
        figures.scores_png({"acc": {"model": {"value": 0.5, "ci95": [0.4]}}}, tmp_path / "bad.png", "bad")
    assert not (tmp_path / "bad.png").exists()
    with pytest.raises(ValueError, match="acc / model"):
        figures.scores_png({"acc": {"model": {"value": 0.5, "ci95": [None, 0.6]}}}, tmp_path / "bad.png", "bad")
    # an interval that misses the value (a bootstrap can) is drawn as given, not refused
    figures.scores_png({"mae": {"model": {"value": 3.0, "ci95": [3.2, 4.0]}}}, tmp_path / "odd.png", "odd")
    assert decode(tmp_path / "odd.png").std() > 20


def test_figures_ignore_user_style_and_match_another_process(tmp_path):
    """Bytes depend on the inputs only: not on the caller's rcParams, not on the process."""
    figures.scores_png(BARS, tmp_path / "a.png", "test scores")
    with matplotlib.rc_context({"lines.linewidth": 7, "font.size": 20, "axes.facecolor": "yellow"}):
        figures.scores_png(BARS, tmp_path / "b.png", "test scores")
    code = f"import sys; from radtune import figures; figures.scores_png({BARS!r}, sys.argv[1], 'test scores')"
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "c.png")], check=True)
    a = (tmp_path / "a.png").read_bytes()
    assert (tmp_path / "b.png").read_bytes() == a
    assert (tmp_path / "c.png").read_bytes() == a


# --- curves -------------------------------------------------------------------------------


def write_live(live: Path) -> None:
    metrics = live / "plots" / "metrics"
    for rel, name, rows in (
        ("train/loss.tsv", "loss", [(s, 7.0 / s) for s in range(1, 41)]),
        ("val/loss.tsv", "loss", [(s, 0.5 + 1.0 / s) for s in range(10, 41, 10)]),
        ("train/learning_rate.tsv", "learning_rate", [(s, 0.002 * min(1, s / 5)) for s in range(1, 41)]),
    ):
        (metrics / rel).parent.mkdir(parents=True, exist_ok=True)
        lines = [f"step\t{name}"] + [f"{s}\t{v:.6f}" for s, v in rows]
        (metrics / rel).write_text("\n".join(lines) + "\n")


def test_curve_groups_pair_train_and_val(tmp_path):
    write_live(tmp_path / "live")
    groups = figures.curve_groups(tmp_path / "live")
    assert list(groups) == ["learning_rate", "loss"]
    assert list(groups["loss"]) == ["train", "val"]
    assert groups["loss"]["val"][0] == [10.0, 20.0, 30.0, 40.0]
    assert groups["loss"]["train"][1][0] == pytest.approx(7.0)


def test_read_dvclive_tsv_with_timestamp_column(tmp_path):
    p = tmp_path / "m.tsv"
    p.write_text("timestamp\tstep\tacc\n1700000000\t0\t0.5\n1700000001\t1\t0.75\n")
    assert figures.read_dvclive_tsv(p) == ([0.0, 1.0], [0.5, 0.75])
    (tmp_path / "bad.tsv").write_text("epoch\tacc\n0\t1\n")
    with pytest.raises(ValueError, match="bad.tsv"):
        figures.read_dvclive_tsv(tmp_path / "bad.tsv")


def test_curves_png(tmp_path):
    write_live(tmp_path / "live")
    draw = lambda p: figures.curves_png(tmp_path / "live", p)
    draw(tmp_path / "curves.png")
    check_png(tmp_path / "curves.png", (1200, 420), draw)  # two panels side by side: 2 x 6 in by 0.6 + 3.6 in


def test_curves_png_without_logs_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="plots/metrics"):
        figures.curves_png(tmp_path / "empty", tmp_path / "c.png")


# --- distributions ------------------------------------------------------------------------


def pedirad_tables() -> dict:
    """The tables pedirad_8k's data stage produces, from hand-made records."""
    rng = np.random.default_rng(0)
    types = ["none", "buckle", "greenstick", "transverse", "salter_harris_ii", "oblique"]
    records = [
        {
            "split": split,
            "age_months": int(rng.integers(0, 156)),
            "fracture_type": types[int(rng.integers(0, len(types)))],
            "augmented_from": None,
        }
        for split, n in (("train", 80), ("val", 12), ("test", 10))
        for _ in range(n)
    ]
    return pedirad_plot_tables(records)


def test_distributions_png_pedirad(tmp_path):
    tables = pedirad_tables()
    draw = lambda p: figures.distributions_png(tables, p, "pedirad_8k")
    draw(tmp_path / "dist.png")
    # 3 split columns of 4.4 in; rows of 0.5 + 0.24 * 13 age bins and max(2.2, 0.5 + 0.24 * 6) in, + 0.8 in
    check_png(tmp_path / "dist.png", (1320, 662), draw)


def test_distributions_png_ct(tmp_path):
    classes = ["epidural", "intraparenchymal", "subdural"]
    a = {
        "classes": classes,
        "splits": {
            s: {"images_per_class": {c: 3 + i + j for j, c in enumerate(classes)}, "no_hem": 5 + i}
            for i, s in enumerate(("train", "val", "test"))
        },
    }
    tables = ct_plot_tables(a)
    draw = lambda p: figures.distributions_png(tables, p, "ct_v4")
    draw(tmp_path / "dist.png")
    check_png(tmp_path / "dist.png", (1320, 300), draw)  # one row of max(2.2, ...) in + 0.8 in


# --- montage ------------------------------------------------------------------------------


def make_images(folder: Path, n: int) -> list[Path]:
    """Grey JPGs and RGB PNGs of different shapes (a bright square on a gradient)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        h, w = (120, 90) if i % 2 else (80, 140)
        grey = np.tile(np.linspace(20, 200, w, dtype=np.uint8), (h, 1))
        grey[h // 4 : h // 2, w // 4 : w // 2] = 250
        if i % 3 == 2:
            p = folder / f"im{i}.png"
            cv2.imwrite(str(p), cv2.merge([grey, grey // 2, grey]))
        else:
            p = folder / f"im{i}.jpg"
            cv2.imwrite(str(p), grey)
        paths.append(p)
    return paths


def item(path: Path, correct: bool) -> dict:
    return {"image": str(path), "truth": "fracture", "answer": "fracture" if correct else "none", "correct": correct}


def test_errors_first_is_stable():
    items = [{"id": i, "correct": c} for i, c in enumerate([True, False, True, False])]
    assert [it["id"] for it in figures.errors_first(items)] == [1, 3, 0, 2]


def test_montage_png_frames_the_first_tile_when_errors_come_first(tmp_path):
    ims = make_images(tmp_path / "im", 4)
    items = figures.errors_first([item(ims[0], True), item(ims[1], False), item(ims[2], True), item(ims[3], True)])
    draw = lambda p: figures.montage_png(items, p, "answers", columns=2)
    draw(tmp_path / "montage.png")
    # 2 x 2 tiles: 0.2 + 2 * 2.2 in wide, 0.7 + 2 * (2.2 + 0.95) in high
    rgb = check_png(tmp_path / "montage.png", (460, 700), draw)
    first_row = slice(70, 370)
    left, right = rgb[first_row, :230], rgb[first_row, 230:]
    assert colour_mask(left).sum() > 1000, "the wrong answer (first tile) has no red frame"
    assert colour_mask(right).sum() == 0, "a right answer is drawn in red"
    assert colour_mask(rgb[first_row, 8:18]).any(axis=1).all()  # the frame's left edge runs down the first tile

    # the function draws in the order given: correct first -> the first tile has no frame
    figures.montage_png(list(reversed(items)), tmp_path / "rev.png", "answers", columns=2)
    rev = decode(tmp_path / "rev.png")
    assert colour_mask(rev[first_row, :230]).sum() == 0


def test_montage_png_draws_boxes_truth_green_answer_red(tmp_path):
    ims = make_images(tmp_path / "im", 2)
    it = item(ims[1], True) | {"boxes_truth": [[10, 10, 40, 40]], "boxes_answer": [[30, 40, 40, 50]]}
    figures.montage_png([it], tmp_path / "boxes.png", "ct_v4")
    rgb = decode(tmp_path / "boxes.png")
    assert colour_mask(rgb, (0, 192, 0), tol=40).sum() > 50
    assert colour_mask(rgb, (255, 0, 0), tol=40).sum() > 50
    figures.montage_png([item(ims[1], True)], tmp_path / "plain.png", "ct_v4")
    plain = decode(tmp_path / "plain.png")
    assert colour_mask(plain, (0, 192, 0), tol=40).sum() == 0
    assert colour_mask(plain, (255, 0, 0), tol=40).sum() == 0


def test_montage_png_caps_the_number_of_tiles(tmp_path):
    ims = make_images(tmp_path / "im", 3)
    many = [item(ims[i % 3], i % 5 != 0) for i in range(40)]
    figures.montage_png(many, tmp_path / "many.png", "capped")
    # 36 tiles in 6 columns x 6 rows: 0.2 + 6 * 2.2 in by 0.7 + 6 * 3.15 in
    assert decode(tmp_path / "many.png").shape[:2] == (1960, 1340)


def test_montage_png_unreadable_image_names_the_file(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(FileNotFoundError, match="broken.jpg"):
        figures.montage_png([item(tmp_path / "broken.jpg", False)], tmp_path / "m.png", "x")
    assert not (tmp_path / "m.png").exists()
