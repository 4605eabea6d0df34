"""``python -m gmgan_lib train``: its flags, derived from :class:`TrainConfig`, and its exit codes.

    python -m gmgan_lib train --model gmgan --dataset mnist --epochs 200 --batch-size 64 \\
        --latent-dim 100 --out runs/NAME [--max-steps N] [--data-fraction F] [--seed S] \\
        [--device auto|cpu|cuda] [--checkpoint-every N] [--resume]

Exit codes (docs/faults.md): 0 done, 130 after SIGINT and 143 after SIGTERM (a checkpoint
written), 1 for a NaN/inf loss or a failure of the machine, 2 for a bad argument.
"""
from __future__ import annotations

import argparse
import dataclasses
import signal

from gmgan_lib import cli_error, cli_os_error
from gmgan_lib.checkpoint import CheckpointError
from gmgan_lib.training.config import TrainConfig, model_config_from_json
from gmgan_lib.training.loop import train
from gmgan_lib.training.stopping import NonFiniteLossError, Terminated

EXIT_INTERRUPTED = 130  # the shell's convention for "stopped by SIGINT" (128 + 2)
EXIT_TERMINATED = 143   # ... and for SIGTERM (128 + 15)


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """``train``'s flags: one per :class:`TrainConfig` field (name, default, help and choices
    from the field), then the few that are not configuration."""
    for f in dataclasses.fields(TrainConfig):
        if f.metadata.get("cli", True) is False:
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, bool):
            p.add_argument(flag, action="store_true", help=f.metadata["help"])
            continue
        shown = "" if f.default is None else " (default: %(default)s)"
        p.add_argument(flag, type=f.metadata.get("type", type(f.default)), default=f.default,
                       choices=f.metadata.get("choices"), help=f.metadata["help"] + shown)
    p.add_argument("--out", required=True, help="run directory (created if missing)")
    p.add_argument("--resume", action="store_true", help="continue OUT/checkpoint.pt if present")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="wall-clock budget of this session (the configuration's max_seconds)")
    p.add_argument("--model-config", default="{}",
                   help='architecture overrides as JSON, e.g. \'{"preset": "hybrid-cde"}\' '
                        '(see gmgan_lib.models.config)')
    p.add_argument("--dry-run", action="store_true", help="one step, no files: check the set-up")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    model_config = model_config_from_json(args.model_config)
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
