"""The command line: ``python -m gmgan_lib <command> --help``.

Each sub-command lives in the module that owns the procedure; this file only wires
them together, so ``python -m gmgan_lib --help`` shows the whole tool at a glance.
Modules expose ``add_<name>_arguments(parser)`` and ``run_<name>(args) -> int``.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# command -> (module, function suffix, one-line help)
COMMANDS = {
    "prepare-data": ("gmgan_lib.data", "prepare_data", "check/copy the raw dataset files into data/"),
    "train": ("gmgan_lib.train", "train", "train a GAN (GM-GAN, DCGAN or an ablation)"),
    "sample": ("gmgan_lib.sampling", "sample", "draw a grid of samples from a checkpoint"),
    "train-classifier": ("gmgan_lib.metrics.classifier", "train_classifier",
                         "train the small feature classifier used by the metrics"),
    "evaluate": ("gmgan_lib.metrics.evaluate", "evaluate",
                 "FID_MNIST, class KL, MNIST score, precision/recall of a checkpoint"),
    "demo": ("gmgan_lib.demo", "demo", "the main job of `make demo`: a small GM-GAN on the CPU"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gmgan_lib", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, fn, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as err:
            # Only a missing *module of ours* makes a command unavailable; a missing
            # third-party dependency inside it is a real error and must surface.
            if not (err.name and module.startswith(err.name)):
                raise
            p.set_defaults(_missing=str(err))
            continue
        getattr(mod, f"add_{fn}_arguments")(p)
        p.set_defaults(_run=getattr(mod, f"run_{fn}"))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if hasattr(args, "_missing"):
        print(f"error: command {args.command!r} is unavailable: {args._missing}", file=sys.stderr)
        return 2
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
