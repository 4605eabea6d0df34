"""The command line: ``python -m gmgan_lib <command> --help``.

Each sub-command lives in the module that owns the procedure; this file only wires
them together, so ``python -m gmgan_lib --help`` shows the whole tool at a glance.
Modules expose ``add_<name>_arguments(parser)`` and ``run_<name>(args) -> int``.
"""
from __future__ import annotations

import argparse
import importlib
import signal
import sys

# command -> (module, function suffix, one-line help)
COMMANDS = {
    "prepare-data": ("gmgan_lib.data", "prepare_data", "check/copy the raw dataset files into data/"),
    "train": ("gmgan_lib.training.cli", "train", "train a GAN (GM-GAN, DCGAN or an ablation)"),
    "sample": ("gmgan_lib.sampling", "sample", "draw a grid of samples from a checkpoint"),
    "train-classifier": ("gmgan_lib.evaluation.classifier", "train_classifier",
                         "train the small feature classifier used by the metrics"),
    "evaluate": ("gmgan_lib.evaluation.evaluate", "evaluate",
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
    # Every command answers Ctrl-C with 130 and SIGTERM with 143 (the shell's convention), in one
    # line: SIGTERM is raised as an exception, so that clean-ups run (temporaries removed, the
    # run lock released) instead of the process dying mid-write. `train` and `demo` catch both
    # themselves to save a checkpoint first; this is for the others (evaluate, sample, ...).
    from gmgan_lib import cli_error
    from gmgan_lib.training.stopping import Terminated, sigterm_raises

    try:
        with sigterm_raises():
            return int(args._run(args) or 0)
    except KeyboardInterrupt as err:
        return cli_error(_Stopped(f"{args.command}: interrupted by SIGINT") if not str(err)
                         else err, 128 + signal.SIGINT)
    except Terminated:
        return cli_error(_Stopped(f"{args.command}: stopped by SIGTERM"), 128 + signal.SIGTERM)


class _Stopped(RuntimeError):
    """A command stopped by a signal (the message says which)."""


if __name__ == "__main__":
    sys.exit(main())
