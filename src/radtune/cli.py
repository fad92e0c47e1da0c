"""`radtune` command line: synth, convert, inspect, verify, results.

Each subcommand is a thin wrapper over one library function. On bad input the command
exits non-zero with one line on stderr (no traceback)."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from radtune.errors import ConfigError, InputRejected, named_as


def _cmd_synth(args: argparse.Namespace) -> int:
    from radtune.synth import generate

    summary = generate(args.variant, Path(args.out), n=args.n, seed=args.seed)
    print(json.dumps(summary, sort_keys=True))
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from radtune.render import convert_file

    convert_file(Path(args.src), Path(args.dst), window=args.window, size=args.size)
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from radtune.render import inspect_file

    info = inspect_file(Path(args.src), window=args.window)
    print(json.dumps(info, indent=2, sort_keys=True, default=str))
    return 0


def _active_variant(given: str | None) -> str:
    from radtune.params import load_params

    return given or str(load_params().dataset.variant)


def _cmd_verify(args: argparse.Namespace) -> int:
    from radtune.verify import report, verify

    variant = _active_variant(args.variant)
    return report(verify(variant, args.ref, Path(args.tolerances), Path(args.gates)), variant, args.ref)


def _cmd_results(args: argparse.Namespace) -> int:
    from radtune.verify import save_results

    print(f"results: {save_results(_active_variant(None))} (commit it with the variant's metrics)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from radtune.windows import WINDOW_CHOICES_SHORT

    p = argparse.ArgumentParser(prog="radtune", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="generate a deterministic synthetic raw dataset")
    s.add_argument("variant", help="dataset variant: a conf/dataset/<variant>.yaml stem (radtune.variants)")
    s.add_argument("--out", required=True, help="output folder (the variant's dataset.raw_dir)")
    s.add_argument("--n", type=int, default=600, help="number of images")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=_cmd_synth)

    window_help = f"{WINDOW_CHOICES_SHORT} (default file)"
    c = sub.add_parser("convert", help="convert one DICOM/JPG/PNG exactly as normalize does")
    c.add_argument("src")
    c.add_argument("dst", help="output image (.jpg or .png)")
    c.add_argument("--window", default="file", help=window_help)
    c.add_argument("--size", type=int, default=512, help="square output size; 0 keeps native size")
    c.set_defaults(func=_cmd_convert)

    i = sub.add_parser("inspect", help="print the tags that matter and normalize's decision")
    i.add_argument("src")
    i.add_argument("--window", default="file", help=window_help)
    i.set_defaults(func=_cmd_inspect)

    v = sub.add_parser("verify", help="after a rerun: data-stage hashes and metrics against the committed ones")
    v.add_argument("--ref", default="HEAD", help="git revision holding the committed results (default HEAD)")
    v.add_argument("--tolerances", default=".ci/metric_tolerances.yaml", help="metric tolerance file")
    v.add_argument("--gates", default=".ci/gates.yaml", help="the margins the model must beat its baselines by")
    v.add_argument("--variant", default=None, help="dataset variant (default: params.yaml's dataset.variant)")
    v.set_defaults(func=_cmd_verify)

    r = sub.add_parser("results", help="record dvc.lock as the run behind metrics/<variant>/ (pipeline.lock)")
    r.set_defaults(func=_cmd_results)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return args.func(args)
    except (InputRejected, ConfigError) as e:
        print(f"radtune {args.command}: error: {_as_typed(str(e), args)}", file=sys.stderr)
        return 2


def _as_typed(message: str, args: argparse.Namespace) -> str:
    """The library names a bad file by its base name (`x.dcm: ...`) and the output by `dst:`;
    the user typed a path: name the file exactly as given on the command line."""
    src, dst = getattr(args, "src", None), getattr(args, "dst", None)
    if dst and message.startswith("dst: "):
        return f"{dst}: {message[len('dst: ') :]}"
    if src and message.startswith(f"{Path(src).name}: "):
        return named_as(message, src, src)
    return message


if __name__ == "__main__":
    sys.exit(main())
