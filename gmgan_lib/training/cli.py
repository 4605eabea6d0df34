"""``python -m gmgan_lib train``: its flags, derived from :class:`TrainConfig`, and its exit codes.

    python -m gmgan_lib train --model gmgan --dataset mnist --epochs 200 --batch-size 64 \\
        --latent-dim 100 --out runs/NAME [--max-steps N] [--data-fraction F] [--seed S] \\
        [--device auto|cpu|cuda] [--checkpoint-every N] [--resume] \\
        [--model.preset hybrid-invariant] [--model.kernel-size 3 5 5] [--model-config FILE|JSON]

Exit codes (docs/faults.md): 0 done, 130 after SIGINT and 143 after SIGTERM (a checkpoint
written), 1 for a NaN/inf loss or a failure of the machine, 2 for a bad argument.
"""
from __future__ import annotations

import argparse
import dataclasses
import signal
from typing import Any

from gmgan_lib import cli_error, cli_os_error
from gmgan_lib.checkpoint import CheckpointError
from gmgan_lib.fields import Allowed, declared
from gmgan_lib.models import DCGANConfig, GMGANConfig
from gmgan_lib.models.config import DEFAULT_PRESET, PRESETS
from gmgan_lib.training.config import TrainConfig, model_config_from_json
from gmgan_lib.training.loop import train
from gmgan_lib.training.stopping import NonFiniteLossError, Terminated

EXIT_INTERRUPTED = 130  # the shell's convention for "stopped by SIGINT" (128 + 2)
EXIT_TERMINATED = 143   # ... and for SIGTERM (128 + 15)


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """``train``'s flags: one per :class:`TrainConfig` field and one per field of the model's
    configuration (``--model.FIELD``), name, default, help and choices from the field; then the
    few that are not configuration."""
    for f in dataclasses.fields(TrainConfig):
        if f.metadata.get("cli", True) is not False:
            _add_flag(p, f, "--" + f.name.replace("_", "-"), f.name, show_default=True)
    p.add_argument("--out", required=True, help="run directory (created if missing)")
    p.add_argument("--resume", action="store_true", help="continue OUT/checkpoint.pt if present")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="wall-clock budget of this session (the configuration's max_seconds)")
    p.add_argument("--dry-run", action="store_true", help="one step, no files: check the set-up")
    add_model_arguments(p)


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """``--model-config FILE|JSON`` and ``--model.FIELD`` for every field of
    :class:`GMGANConfig` and :class:`DCGANConfig` (a field of the other model is refused when
    the configuration is resolved). A flag wins over the same key in ``--model-config``."""
    group = p.add_argument_group(
        "architecture", "fields of the model's configuration (gmgan_lib.models): unset ones come "
        "from --model-config, then --model.preset (GM-GAN family; the defaults shown are the "
        "'hybrid' preset's, and the 'pde' preset's for a field only an all-PDE network reads) "
        "or the DCGAN's defaults")
    group.add_argument("--model-config", default="{}", metavar="FILE|JSON",
                       help='architecture overrides as a JSON object or a JSON file, e.g. '
                            '\'{"preset": "hybrid-cde"}\'')
    group.add_argument("--model.preset", dest="model.preset", choices=tuple(PRESETS),
                       default=argparse.SUPPRESS,
                       help=f"GM-GAN family: the named configuration to start from "
                            f"(default: {DEFAULT_PRESET})")
    seen = set()
    for config_type, model in ((GMGANConfig, "GM-GAN"), (DCGANConfig, "gan")):
        for f in declared(config_type):
            if f.name in seen:
                continue
            seen.add(f.name)
            both = all(f.name in {g.name for g in declared(t)} for t in (GMGANConfig, DCGANConfig))
            only = f.metadata.get("only")
            prefix = ("GM-GAN and gan: " if both else
                      f"{model}{f', {only} architecture' if only else ''}: ")
            # A field of the all-PDE network shows the 'pde' preset's value, not the hybrid's.
            shown = getattr(PRESETS[only], f.name) if only in PRESETS else f.default
            _add_flag(group, f, "--model." + f.name.replace("_", "-"), "model." + f.name,
                      show_default=False, prefix=prefix, default_shown=shown)


def _add_flag(p: Any, f: dataclasses.Field, flag: str, dest: str, *, show_default: bool,
              prefix: str = "", default_shown: Any = None) -> None:
    """One flag from a declared field: its type, choices, number of values and help."""
    rule: Allowed = f.metadata["allowed"]
    help_ = prefix + f.metadata["help"]
    if not show_default:                       # a model flag: unset means "not overridden"
        default = argparse.SUPPRESS
        help_ += f" (default {_shown(default_shown)})"
    elif rule.kind is bool:
        p.add_argument(flag, action="store_true", dest=dest, help=help_)
        return
    else:
        default = f.default
        help_ += "" if f.default is None else " (default: %(default)s)"
    kind = _parse_bool if rule.kind is bool else rule.kind
    nargs = None if rule.length is None else ("+" if rule.length == 0 else rule.length)
    metavar = ("{true,false}" if rule.kind is bool else None if rule.choices
               else "X" if rule.kind is float else "N")
    p.add_argument(flag, dest=dest, type=kind, nargs=nargs, default=default,
                   choices=rule.choices or None, metavar=metavar, help=help_)


def _shown(value: Any) -> str:
    return " ".join(map(str, value)) if isinstance(value, tuple) else str(value).lower() \
        if isinstance(value, bool) else str(value)


def _parse_bool(text: str) -> bool:
    if text not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return text == "true"


def model_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The architecture the command line asks for: ``--model-config`` (a JSON object, or a file
    holding one), then every ``--model.FIELD`` given."""
    overrides = model_config_from_json(args.model_config)
    flags = {k.removeprefix("model."): v for k, v in vars(args).items() if k.startswith("model.")}
    return {**overrides, **{k: list(v) if isinstance(v, list) else v for k, v in flags.items()}}


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    model_config = model_overrides(args)
    if args.max_minutes is not None and not args.max_minutes > 0:
        raise ValueError(f"--max-minutes must be a positive number, got {args.max_minutes!r}")
    flags = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
             if f.metadata.get("cli", True) is not False}
    return TrainConfig(**flags, model_config=model_config,
                       max_seconds=None if args.max_minutes is None else 60.0 * args.max_minutes)


def run_train(args: argparse.Namespace) -> int:
    """CLI entry: 0 when done, 130 after a SIGINT (checkpoint written), 1 for a NaN/inf loss or a
    failure of the machine (disk full), 2 for bad arguments or an unreadable checkpoint (a
    one-line message, no traceback); 130 or 143 with one line for a signal during the set-up."""
    try:
        config = config_from_args(args)
        result = train(config, args.out, resume=args.resume, dry_run=args.dry_run)
    except (ValueError, CheckpointError) as err:  # includes the data loader's errors
        return cli_error(err, 2)
    except FileNotFoundError as err:
        return cli_error(err, 2)
    except OSError as err:                        # disk full, permission denied, name too long
        return cli_os_error(err)
    except NonFiniteLossError as err:
        return cli_error(err, 1)
    except (KeyboardInterrupt, Terminated) as err:
        # A signal before the loop's own handling (data loading, model building) or a second
        # one after it: the loop's last checkpoint, if any, is kept; a new run's folder is gone.
        name = "SIGTERM" if isinstance(err, Terminated) else "SIGINT"
        return cli_error(_Interrupted(f"interrupted by {name} before the run could save its "
                                      f"state; the last checkpoint, if any, is kept (run the "
                                      f"command again, with --resume to continue)"),
                         EXIT_TERMINATED if isinstance(err, Terminated) else EXIT_INTERRUPTED)
    if not result.interrupted:
        return 0
    return EXIT_TERMINATED if result.signal == signal.SIGTERM else EXIT_INTERRUPTED


class _Interrupted(RuntimeError):
    """The one-line message of a signal that stopped the set-up."""
