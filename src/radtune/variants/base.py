"""The interface every dataset variant implements (one package under radtune.variants).

A variant is everything specific to one dataset: its stage functions (one per pipeline
stage, with explicit input and output paths), its labels, prompts and targets, its
scoring, its parameter rules and its synthetic generator. Stage scripts resolve paths and
call `radtune.variants.get(params.dataset.variant).<stage>(...)`; shared machinery (pixels,
render, quality, leakage, records, io, pseudonyms, export writer, train, merge, generation,
metrics, verify) lives outside the variants and is used by them.

Every stage function takes the whole validated params (`params.yaml`) first, then its
paths as keyword arguments; a path is the `dataset.layout` slot dvc.yaml passes (a file or a
folder, as the variant's layout says). Data stages write their outputs atomically and print
their one summary line."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

#: dotted params key -> (accepted types, check, what it must be)
Rules = dict[str, tuple[tuple[type, ...], Callable[[Any], bool], str]]
#: the three outputs of the augment stage (`dataset.layout.final`)
Final = tuple[Path, Path, Path]
#: what scoring returns: metrics, confusion rows (the confusion figure), per-sample predictions
Scored = tuple[dict[str, Any], list[dict], list[dict]]


class Variant(ABC):
    """One dataset variant. `name` is the stem of its `conf/dataset/<name>.yaml`."""

    name: str
    #: the boolean answer field counted per split in the dataset registry (e.g. "fracture")
    positive_key: str
    #: the metrics eval reports again with every test image blanked (`<metric>_no_image`)
    ablation_metrics: tuple[str, ...]

    # ------------------------------------------------------------------ parameters, synth
    @abstractmethod
    def param_rules(self) -> Rules:
        """The variant's `dataset.*` keys and what each must be (checked before any work)."""

    @abstractmethod
    def check_inputs(self, p: DictConfig, *, raw: Path) -> None:
        """Settings that are valid on their own but that these raw inputs cannot honour (e.g.
        a split mode that needs split folders): ConfigError naming the key, with the rule the
        stage itself applies. Run by check-params (radtune.preflight) before any stage."""

    @abstractmethod
    def synth(self, out_dir: Path, *, n: int, seed: int) -> dict:
        """Write the deterministic synthetic raw inputs into `out_dir`; return a summary."""

    # ------------------------------------------------------------------ data stages
    @abstractmethod
    def fetch(self, p: DictConfig, *, raw: Path, out: Path) -> None:
        """Write the raw folder's inventory (`radtune.inventory`) and get what the variant
        downloads into `out`."""

    @abstractmethod
    def normalize(self, p: DictConfig, *, raw: Path, fetched: Path, out: Path) -> None:
        """Every input -> an 8-bit image and a record (`dataset.layout.normalized`)."""

    @abstractmethod
    def annotate(self, p: DictConfig, *, raw: Path, fetched: Path, normalized: Path, out: Path) -> None:
        """Labels for every normalized image (`dataset.layout.annotated`)."""

    @abstractmethod
    def stratify(self, p: DictConfig, *, annotated: Path, out: Path, report: Path) -> None:
        """A split for every image (`dataset.layout.split`) and its report (`split_report`)."""

    @abstractmethod
    def augment(
        self, p: DictConfig, *, normalized: Path, split: Path, data_dir: Path, final: Final, metrics: Path, figure: Path
    ) -> None:
        """The published dataset (`dataset.layout.final`), dataset metrics and the figure of its
        distributions (PNG, `radtune.figures.distributions_png`)."""

    @abstractmethod
    def leakage_check(self, p: DictConfig, *, data_dir: Path, final: Final, report: Path) -> bool:
        """Verify the published dataset; write `report`; True when it passed."""

    # ------------------------------------------------------------------ model side
    @abstractmethod
    def export_rows(self, p: DictConfig, *, data_dir: Path, split: str) -> list[dict]:
        """The chat rows (`radtune.export.chat_row`) of one split, sorted by id."""

    @abstractmethod
    def source_names(self, p: DictConfig, *, data_dir: Path) -> dict[str, str]:
        """Row id -> the input it came from, as the user knows it (for eval's predictions);
        never a name that can carry PHI (e.g. DICOM file names a variant does not publish)."""

    @abstractmethod
    def blank_text(self, text: str) -> str:
        """A user prompt with its patient context removed (training's prompt dropout)."""

    def answer_options(self, row: Mapping[str, Any]) -> list[str]:
        """Candidate answers eval scores by their likelihood for this row (e.g. every grade of
        a screening finding, for AUCs), passed to `score` as `option_logprobs`; [] = none."""
        return []

    @abstractmethod
    def score(
        self,
        test_rows: Sequence[Mapping[str, Any]],
        outputs: Sequence[str],
        train_rows: Sequence[Mapping[str, Any]],
        option_logprobs: Sequence[Sequence[float]] | None = None,
    ) -> Scored:
        """(metrics, confusion rows, predictions) of the model's answers to the test rows;
        `option_logprobs[i]`: the log-probability of each of `answer_options(test_rows[i])`."""

    @abstractmethod
    def headline(self, metrics: Mapping[str, Any]) -> str:
        """The metrics eval prints in its summary line, against their baselines."""

    @abstractmethod
    def score_bars(self, metrics: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """The scores figure (`radtune.figures.scores_png`): per metric, the model's value (with
        its interval) first, then its baselines (no image, majority, ...)."""

    @abstractmethod
    def montage_items(
        self,
        p: DictConfig,
        *,
        data_dir: Path,
        rows: Sequence[Mapping[str, Any]],
        predictions: Sequence[Mapping[str, Any]],
    ) -> list[dict]:
        """The montage tiles (`radtune.figures.montage_png`) of the scored rows: image, truth,
        answer, correct (and boxes where the variant has them)."""
