"""PNG figures that open without network: confusion matrix, scores next to baselines,
training curves, dataset distributions and a montage of test images with answers.

Every function draws one matplotlib figure off-screen (Agg, no pyplot state) and writes one
PNG atomically. Figures are deterministic: matplotlib's default style whatever the user's
matplotlibrc says, a fixed DPI, a size computed only from the number of panels (no
`bbox_inches="tight"`), and no "Software" text chunk, so the same inputs give the same bytes
(for one matplotlib/freetype build). DVC declares them as image plots; its HTML page shows
them with a plain <img>, no script.

    confusion_png(confusion_rows(...), "metrics/figures/confusion.png", "fracture (test)")
    scores_png({"fracture_accuracy": {"model": {"value": 0.91, "ci95": [0.81, 0.96]},
                                      "majority": 0.55}}, path, "test scores")
    curves_png("metrics/train", "metrics/figures/curves.png")
    distributions_png(plot_tables(records), path, "pedirad_8k dataset")
    montage_png(errors_first(items), path, "test answers")
"""

from __future__ import annotations

import csv
import math
import os
import textwrap
from collections.abc import Callable, Mapping, Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

import cv2
import matplotlib.style
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from radtune.imaging import read_image
from radtune.io import write_bytes_atomic

DPI = 100
PNG_METADATA: dict[str, str | None] = {"Software": None}
MODEL_COLOR = "#1f77b4"
BASELINE_COLORS = ("#8c8c8c", "#bdbdbd", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b")
ERROR_COLOR = "#d62728"
TRUTH_BOX_COLOR = "#00c000"
ANSWER_BOX_COLOR = "#ff0000"
SPLIT_ORDER = ("train", "val", "test")
MONTAGE_MAX_ITEMS = 36
MONTAGE_TILE_PX = 256  # longest image side drawn in a tile (the tile itself is TILE_W_IN wide)
TILE_W_IN, TILE_IMG_H_IN, TILE_TEXT_H_IN = 2.2, 2.2, 0.95
TEXT_BLOCK_H_IN = 0.4  # three 7-pt lines: the answer starts below the truth's block
INVALID = "invalid"

Number = int | float


def _figure(width_in: float, height_in: float, layout: str | None = "constrained") -> Figure:
    return Figure(figsize=(width_in, height_in), dpi=DPI, layout=layout)


def _save(fig: Figure, path: str | os.PathLike) -> None:
    """The figure as PNG bytes (fixed DPI, white background, no Software chunk), written atomically."""
    buf = BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white", metadata=PNG_METADATA)
    write_bytes_atomic(path, buf.getvalue())


def _draw(path: str | os.PathLike, build: Callable[[], Figure]) -> None:
    """Build the figure under matplotlib's default style (ignores matplotlibrc) and save it."""
    with matplotlib.style.context("default"):
        fig = build()
        _save(fig, path)


def _fmt(x: float) -> str:
    """A value label: integers as such, small values with 3 decimals, large ones with 1."""
    if float(x).is_integer() and abs(x) >= 10:
        return f"{x:.0f}"
    return f"{x:.3f}" if abs(x) < 10 else f"{x:.1f}"


# --- confusion matrix -------------------------------------------------------------------


def _label_order(labels: set[str]) -> list[str]:
    """Sorted labels with "invalid" (an unparseable answer) last."""
    return sorted(labels - {INVALID}) + ([INVALID] if INVALID in labels else [])


def confusion_matrix(
    rows: Sequence[Mapping[str, Any]], labels: Sequence[str] | None = None
) -> tuple[list[str], list[str], np.ndarray]:
    """(actual labels, predicted labels, counts[actual, predicted]) of {"actual", "predicted"}
    rows. Predicted labels are every label seen (or `labels`, plus unseen extra ones last);
    actual labels leave out "invalid" unless some truth is "invalid"."""
    seen = {str(r["actual"]) for r in rows} | {str(r["predicted"]) for r in rows}
    order = list(labels) if labels is not None else []
    order += [lab for lab in _label_order(seen) if lab not in order]
    actual_present = {str(r["actual"]) for r in rows}
    actual = [lab for lab in order if lab != INVALID or lab in actual_present]
    counts = np.zeros((len(actual), len(order)), dtype=np.int64)
    for r in rows:
        counts[actual.index(str(r["actual"])), order.index(str(r["predicted"]))] += 1
    return actual, order, counts


def confusion_png(
    rows: Sequence[Mapping[str, Any]],
    path: str | os.PathLike,
    title: str,
    labels: Sequence[str] | None = None,
) -> None:
    """A count matrix (truth down, answer across) with the count and the row share in each
    cell, from `radtune.metrics.confusion_rows` output; the subtitle gives n and accuracy."""
    actual, predicted, counts = confusion_matrix(rows, labels)
    n = int(counts.sum())
    hits = sum(int(counts[i, predicted.index(a)]) for i, a in enumerate(actual) if a in predicted)

    def build() -> Figure:
        w = 2.6 + 1.25 * max(2, len(predicted))
        h = 2.0 + 1.0 * max(2, len(actual))
        fig = _figure(w, h)
        ax = fig.add_subplot()
        if n == 0:
            ax.text(0.5, 0.5, "no rows", ha="center", va="center", fontsize=14)
            ax.set_axis_off()
            fig.suptitle(title)
            return fig
        vmax = max(1, int(counts.max()))
        im = ax.imshow(counts, cmap="Blues", vmin=0, vmax=vmax, aspect="auto")
        row_totals = counts.sum(axis=1)
        for i in range(counts.shape[0]):
            for j in range(counts.shape[1]):
                c = int(counts[i, j])
                share = f"\n{c / row_totals[i]:.0%}" if row_totals[i] else ""
                colour = "white" if c > 0.55 * vmax else "black"
                ax.text(j, i, f"{c}{share}", ha="center", va="center", color=colour, fontsize=13)
        ax.set_xticks(range(len(predicted)), predicted)
        ax.set_yticks(range(len(actual)), actual)
        ax.set_xlabel("answer (predicted)")
        ax.set_ylabel("truth (actual)")
        fig.colorbar(im, ax=ax, shrink=0.8, label="count")
        fig.suptitle(f"{title}\nn={n}, accuracy {hits / n:.3f}")
        return fig

    _draw(path, build)


# --- scores next to baselines -----------------------------------------------------------


def _score(entry: Any, where: str) -> tuple[float | None, tuple[float, float] | None]:
    """(value, ci95 or None) of a bar entry: a number, None, or {"value": x, "ci95": [lo, hi]}."""
    if isinstance(entry, Mapping):
        value, ci = entry.get("value"), entry.get("ci95")
    else:
        value, ci = entry, None
    if value is None or isinstance(value, bool) or not math.isfinite(float(value)):
        return None, None
    interval = None
    if ci is not None:
        if len(ci) != 2 or any(c is None for c in ci):
            raise ValueError(f"scores_png: {where}: ci95 must be [lo, hi] with numbers, got {ci!r}")
        interval = (float(ci[0]), float(ci[1]))
    return float(value), interval


def scores_png(
    bars: Mapping[str, Mapping[str, Any]],
    path: str | os.PathLike,
    title: str,
) -> None:
    """One panel per metric, each a horizontal bar per series (the first series, the model, in
    blue; baselines in grey/other colours), the value written at the bar's end and the 95 %
    interval as an error bar when given. `bars` is {metric: {series: value}} where a value is
    a number, None/NaN (drawn as "n/a") or {"value": x, "ci95": [lo, hi]}; panels and series
    keep the mapping's order, each panel its own x scale (accuracies and errors in months
    differ in scale)."""
    if not bars:
        raise ValueError("scores_png: no metrics to draw")
    series_order: list[str] = []
    for per_series in bars.values():
        series_order += [s for s in per_series if s not in series_order]
    colours = {
        s: MODEL_COLOR if i == 0 else BASELINE_COLORS[(i - 1) % len(BASELINE_COLORS)]
        for i, s in enumerate(series_order)
    }

    def build() -> Figure:
        heights = [0.45 * max(1, len(s)) + 0.55 for s in bars.values()]
        fig = _figure(8.0, 0.8 + sum(heights))
        axes = fig.subplots(len(bars), 1, gridspec_kw={"height_ratios": heights}, squeeze=False)[:, 0]
        for ax, (metric, per_series) in zip(axes, bars.items()):
            names = list(per_series)
            scored = [_score(per_series[s], f"{metric} / {s}") for s in names]
            highs = [v if ci is None else ci[1] for v, ci in scored if v is not None]
            lows = [v if ci is None else ci[0] for v, ci in scored if v is not None]
            top, bottom = max(highs + [0.0]), min(lows + [0.0])
            span = (top - bottom) or 1.0
            ys = np.arange(len(names))
            for y, name, (value, ci) in zip(ys, names, scored):
                if value is None:
                    ax.text(0.01 * span, y, " n/a", va="center", ha="left", fontsize=9)
                    continue
                ax.barh(y, value, color=colours[name], height=0.7)
                if ci is not None:  # drawn from lo to hi as given, even if it does not contain the value
                    lo, hi = min(ci), max(ci)
                    ax.errorbar(
                        (lo + hi) / 2, y, xerr=(hi - lo) / 2, fmt="none", ecolor="black", elinewidth=1.2, capsize=4
                    )
                label = _fmt(value) + ("" if ci is None else f"  [{_fmt(ci[0])}, {_fmt(ci[1])}]")
                end = max(value, 0.0) if ci is None else max(ci[1], 0.0)
                ax.text(end + 0.01 * span, y, " " + label, va="center", ha="left", fontsize=9)
            ax.set_yticks(ys, names)
            ax.invert_yaxis()
            ax.set_xlim(bottom - 0.05 * span if bottom < 0 else 0.0, top + 0.5 * span)
            ax.set_title(metric, loc="left", fontsize=10, fontweight="bold")
            ax.grid(axis="x", alpha=0.3)
            ax.set_axisbelow(True)
        fig.suptitle(title)
        return fig

    _draw(path, build)


# --- training curves --------------------------------------------------------------------


def read_dvclive_tsv(path: str | os.PathLike) -> tuple[list[float], list[float]]:
    """(steps, values) of one dvclive metric TSV: column "step" and the metric column (the
    one that is neither "step" nor "timestamp")."""
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t")
        fields = reader.fieldnames or []
        value_cols = [c for c in fields if c not in ("step", "timestamp")]
        if "step" not in fields or len(value_cols) != 1:
            raise ValueError(f"{path}: expected columns 'step' and one metric column, got {fields}")
        steps, values = [], []
        for row in reader:
            steps.append(float(row["step"]))
            values.append(float(row[value_cols[0]]))
    return steps, values


def curve_groups(live_dir: str | os.PathLike) -> dict[str, dict[str, tuple[list[float], list[float]]]]:
    """{metric name: {series: (steps, values)}} of `<live_dir>/plots/metrics/**.tsv`: the metric
    name is the file stem (loss, learning_rate), the series its folder (train, val); sorted."""
    root = Path(live_dir) / "plots" / "metrics"
    files = sorted(root.rglob("*.tsv"))
    if not files:
        raise FileNotFoundError(f"{root}: no dvclive metric .tsv files (did training log any step?)")
    groups: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
    for f in files:
        series = f.parent.relative_to(root).as_posix()
        groups.setdefault(f.stem, {})[series if series != "." else f.stem] = read_dvclive_tsv(f)
    return dict(sorted(groups.items()))


def curves_png(live_dir: str | os.PathLike, path: str | os.PathLike, title: str = "training curves") -> None:
    """Training curves from a dvclive folder: one panel per metric (loss: train and val
    together; learning_rate; ...), two panels a row. A positive metric spanning more than 20x
    is drawn on a log scale (loss usually is)."""
    groups = curve_groups(live_dir)

    def build() -> Figure:
        cols = min(2, len(groups))
        nrows = math.ceil(len(groups) / cols)
        fig = _figure(6.0 * cols, 0.6 + 3.6 * nrows)
        axes = fig.subplots(nrows, cols, squeeze=False).ravel()
        for ax, (metric, series) in zip(axes, groups.items()):
            values = [v for _, vs in series.values() for v in vs]
            for name, (steps, vs) in series.items():
                ax.plot(steps, vs, marker="o" if len(steps) <= 20 else None, markersize=3, label=name)
            if values and min(values) > 0 and max(values) / min(values) > 20:
                ax.set_yscale("log")
                metric_label = f"{metric} (log scale)"
            else:
                metric_label = metric
            ax.set_title(metric_label, fontsize=11)
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=9)
        for ax in axes[len(groups) :]:
            ax.set_axis_off()
        fig.suptitle(title)
        return fig

    _draw(path, build)


# --- dataset distributions --------------------------------------------------------------


def _kind_split(name: str) -> tuple[str, str]:
    """("age_months", "train") of "age_months_train.json"; ("x", "") when no split suffix."""
    stem = name[: -len(".json")] if name.endswith(".json") else name
    kind, _, split = stem.rpartition("_")
    return (kind, split) if kind and split in SPLIT_ORDER else (stem, "")


def distributions_png(
    tables: Mapping[str, Sequence[Mapping[str, Any]]],
    path: str | os.PathLike,
    title: str,
) -> None:
    """A grid of horizontal bar charts of the data stages' plot tables ({file name: [{category,
    count}, ...]}, e.g. pedirad_8k `stats.plot_tables`, ct_v4 `analysis.plot_tables`): one row
    per distribution, one column per split (train, val, test), categories in table order,
    counts written at the bars, n in each panel's title."""
    if not tables:
        raise ValueError("distributions_png: no tables to draw")
    kinds: list[str] = []
    splits: set[str] = set()
    cells: dict[tuple[str, str], Sequence[Mapping[str, Any]]] = {}
    for name, rows in tables.items():
        kind, split = _kind_split(name)
        kinds += [kind] if kind not in kinds else []
        splits.add(split)
        cells[(kind, split)] = rows
    columns = [s for s in SPLIT_ORDER if s in splits] + ([""] if "" in splits else [])
    row_heights = [max(2.2, 0.5 + 0.24 * max((len(cells.get((k, s), [])) for s in columns), default=1)) for k in kinds]

    def build() -> Figure:
        fig = _figure(4.4 * len(columns), 0.8 + sum(row_heights))
        axes = fig.subplots(len(kinds), len(columns), squeeze=False, gridspec_kw={"height_ratios": row_heights})
        for i, kind in enumerate(kinds):
            for j, split in enumerate(columns):
                ax = axes[i, j]
                rows = cells.get((kind, split))
                if rows is None:
                    ax.set_axis_off()
                    continue
                cats = [str(r["category"]) for r in rows]
                counts = [float(r["count"]) for r in rows]
                ys = np.arange(len(cats))
                ax.barh(ys, counts, color=MODEL_COLOR, height=0.75)
                top = max(counts + [1.0])
                for y, c in zip(ys, counts):
                    ax.text(c + 0.01 * top, y, f"{c:.0f}", va="center", ha="left", fontsize=8)
                ax.set_yticks(ys, cats, fontsize=8)
                ax.invert_yaxis()
                ax.set_xlim(0, top * 1.18)
                ax.tick_params(axis="x", labelsize=8)
                label = f"{kind} · {split}" if split else kind
                ax.set_title(f"{label} (n={sum(counts):.0f})", fontsize=10)
                ax.grid(axis="x", alpha=0.3)
                ax.set_axisbelow(True)
        fig.suptitle(title)
        return fig

    _draw(path, build)


# --- montage of test images with answers ------------------------------------------------


def errors_first(items: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The montage order: wrong answers first, then right ones, each group in input order
    (stable). Pass all items to `montage_png`: it caps them and says "showing k of n"."""
    return sorted(items, key=lambda it: bool(it["correct"]))


def _thumbnail(path: str | os.PathLike) -> tuple[np.ndarray, int, int]:
    """(uint8 grey or RGB image at most MONTAGE_TILE_PX a side, original height, original width)."""
    image = read_image(path)
    if image is None:
        raise FileNotFoundError(f"{path}: cannot read this image for the montage")
    if image.dtype != np.uint8:
        lo, hi = float(image.min()), float(image.max())
        image = ((image.astype(np.float64) - lo) * (255.0 / (hi - lo if hi > lo else 1.0))).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    h, w = image.shape[:2]
    scale = MONTAGE_TILE_PX / max(h, w)
    if scale < 1:
        image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return image, h, w


def _wrap(label: str, text: str, width: int = 38, lines: int = 3) -> str:
    wrapped = textwrap.wrap(f"{label}: {text}", width=width, break_long_words=True) or [f"{label}:"]
    if len(wrapped) > lines:
        wrapped = wrapped[:lines]
        wrapped[-1] = wrapped[-1][: width - 1] + "…"
    return "\n".join(wrapped)


def montage_geometry(n: int, columns: int) -> tuple[int, int, float, float]:
    """(columns used, rows, figure width in, figure height in) of a montage of n tiles."""
    cols = max(1, min(columns, n))
    rows = max(1, math.ceil(n / cols))
    return cols, rows, 0.2 + TILE_W_IN * cols, 0.7 + (TILE_IMG_H_IN + TILE_TEXT_H_IN) * rows


def montage_png(
    items: Sequence[Mapping[str, Any]],
    path: str | os.PathLike,
    title: str,
    columns: int = 6,
    max_items: int = MONTAGE_MAX_ITEMS,
) -> None:
    """A grid of test images, each with "truth: ..." and "answer: ..." under it, in the order
    given (the caller puts errors first, see `errors_first`), at most `max_items`. A wrong
    answer gets a red frame round its tile and a red answer line. Items: {"image": path,
    "truth": str, "answer": str, "correct": bool, "boxes_truth": [[x, y, w, h], ...],
    "boxes_answer": [...]} (boxes optional, in the image's pixels: truth green, answer red).
    Grey and RGB images are read with `radtune.imaging.read_image`."""
    shown = list(items)[:max_items]
    thumbs = [_thumbnail(it["image"]) for it in shown]
    cols, nrows, width, height = montage_geometry(len(shown), columns)
    n_wrong = sum(1 for it in items if not it["correct"])

    def build() -> Figure:
        fig = _figure(width, height, layout=None)
        tile_h = TILE_IMG_H_IN + TILE_TEXT_H_IN
        if not shown:
            fig.text(0.5, 0.5, "no items", ha="center", va="center", fontsize=12)
        for k, (item, (image, h, w)) in enumerate(zip(shown, thumbs)):
            r, c = divmod(k, cols)
            x0 = 0.1 + c * TILE_W_IN
            y0 = height - 0.6 - (r + 1) * tile_h  # bottom of the tile, inches
            pad = 0.08
            ax = fig.add_axes(
                (
                    (x0 + pad) / width,
                    (y0 + TILE_TEXT_H_IN) / height,
                    (TILE_W_IN - 2 * pad) / width,
                    (TILE_IMG_H_IN - pad) / height,
                )
            )
            ax.set_facecolor("black")
            extent = (0, w, h, 0)  # boxes stay in the original image's pixels
            if image.ndim == 2:
                ax.imshow(image, cmap="gray", vmin=0, vmax=255, extent=extent, interpolation="antialiased")
            else:
                ax.imshow(image, extent=extent, interpolation="antialiased")
            for key, colour in (("boxes_truth", TRUTH_BOX_COLOR), ("boxes_answer", ANSWER_BOX_COLOR)):
                for bx, by, bw, bh in item.get(key) or []:
                    ax.add_patch(Rectangle((bx, by), bw, bh, fill=False, edgecolor=colour, linewidth=1.5))
            ax.set_xlim(0, w)
            ax.set_ylim(h, 0)
            ax.set_xticks([])
            ax.set_yticks([])
            wrong = not item["correct"]
            fig.text(
                (x0 + pad) / width,
                (y0 + TILE_TEXT_H_IN - 0.04) / height,
                _wrap("truth", str(item["truth"])),
                ha="left",
                va="top",
                fontsize=7,
                color="#006400",
            )
            fig.text(
                (x0 + pad) / width,
                (y0 + TILE_TEXT_H_IN - 0.04 - TEXT_BLOCK_H_IN) / height,
                _wrap("answer", str(item["answer"])),
                ha="left",
                va="top",
                fontsize=7,
                color=ERROR_COLOR if wrong else "black",
            )
            frame = Rectangle(
                ((x0 + 0.03) / width, (y0 + 0.03) / height),
                (TILE_W_IN - 0.06) / width,
                (tile_h - 0.06) / height,
                transform=fig.transFigure,
                fill=False,
                edgecolor=ERROR_COLOR if wrong else "#cccccc",
                linewidth=4 if wrong else 1,
            )
            fig.add_artist(frame)
        more = f", showing {len(shown)} of {len(items)}" if len(items) > len(shown) else ""
        fig.suptitle(f"{title}\n{n_wrong} wrong of {len(items)} (red frame){more}", y=1 - 0.08 / height, va="top")
        return fig

    _draw(path, build)


def bar(metrics: Mapping[str, Any], key: str) -> Any:
    """A `scores_png` bar entry for metric `key`: {"value", "ci95"} when the metrics carry
    the interval (`<key>_ci95`), else the plain value (None when missing)."""
    ci = metrics.get(f"{key}_ci95")
    return {"value": metrics.get(key), "ci95": ci} if ci else metrics.get(key)
