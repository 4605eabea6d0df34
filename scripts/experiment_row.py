#!/usr/bin/env python
"""One line of docs/experiments.md from a finished run: its figures and a strip of its samples.

    python scripts/experiment_row.py runs/exp/NAME [runs/exp/OTHER ...]

For each run directory (``train`` output, then ``evaluate --out RUN/eval``) this prints a
markdown table row (configuration, steps, training seconds, FID_MNIST, class KL, MNIST score,
precision, recall, and the PDE layers' activity) and writes ``docs/img/experiments/NAME.png``:
16 samples of the run's final generator, noise seed 0, the same noise for every run so that
strips can be compared.

*PDE activity*: the share of the outputs of G's and D's dilations and erosions that differ from
their input (on 64 samples, training mode), i.e. where a neighbour beat the kernel's cost. At 0 a
morphological layer is the identity and the network is linear there.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gmgan_lib.checkpoint import load_checkpoint  # noqa: E402
from gmgan_lib.sampling import sample, save_samples  # noqa: E402

from gmgan_lib.models.config import OLDER_CHECKPOINT_VALUES  # noqa: E402

# Fields a run predates, with the value that reproduces its network: what the library itself
# fills in on resume (OLDER_CHECKPOINT_VALUES), and two fields whose default changed since (for
# the description only: their value is in the saved weights).
LEGACY = {"metric_init_scale": 1.0, "g_projection": "max", **OLDER_CHECKPOINT_VALUES}
DEFAULTS = {"loss": "bce", "r1": 0.0, "d_steps": 1, "lr": 2e-4, "lr_d": None, "beta1": 0.5,
            "beta2": 0.999, "spectral_norm": False}


def describe(config: dict) -> str:
    """The model and whatever differs from the defaults, compactly."""
    parts = [config["model"]]
    from gmgan_lib.models import resolve_config

    default_arch = resolve_config(config["model"])
    # A field a run predates had, in that run, the value that made it a no-op.
    arch = {**LEGACY, **config.get("model_config", {})} if config["model"] != "gan" else \
        config.get("model_config", {})
    parts += [f"{k}={v}" for k, v in arch.items() if default_arch.get(k) != v]
    parts += [f"{k}={config[k]}" for k, v in DEFAULTS.items() if config.get(k, v) != v]
    return " ".join(parts)


def pde_activity(run: Path) -> str:
    """Share of dilation/erosion outputs that differ from their input, in G and in D."""
    import torch

    from gmgan_lib.models import build, from_saved
    from gmgan_lib.nn import DilationM2, DilationR2, ErosionM2, ErosionR2

    state = load_checkpoint(run / "checkpoint.pt")
    cfg = state["config"]
    if "discriminator" not in state or cfg["model"] == "gan":
        return "-"
    G, D = build(from_saved(cfg["model"], cfg["model_config"]), cfg["latent_dim"])
    G.load_state_dict(state["generator"])
    try:
        D.load_state_dict(state["discriminator"])
    except RuntimeError:    # a D of a code variant since reverted: report G only
        D = None
    counts = {"G": [0, 0], "D": [0, 0]}

    def hook(tag):
        def count(module, args, out):
            counts[tag][0] += int(((out - args[0]).abs() > 1e-6).sum())
            counts[tag][1] += out.numel()
        return count

    for tag, net in (("G", G), ("D", D)):
        for m in (net.modules() if net is not None else ()):
            if isinstance(m, (DilationM2, ErosionM2, DilationR2, ErosionR2)):
                m.register_forward_hook(hook(tag))
    with torch.no_grad():
        x = G(torch.randn(64, cfg["latent_dim"], generator=torch.Generator().manual_seed(0)))
        if D is not None:
            D(x)
    share = {t: (c[0] / c[1] if c[1] else None) for t, c in counts.items()}
    return " / ".join("-" if v is None else f"{100 * v:.0f} %" for v in share.values())


def row(run: Path) -> str:
    state = load_checkpoint(run / "checkpoint.pt", require=("config", "generator", "step"))
    metrics = json.loads((run / "eval" / "eval.json").read_text())["per_seed"][0]
    strip = ROOT / "docs" / "img" / "experiments" / f"{run.name}.png"
    save_samples(sample(run / "checkpoint.pt", n=16, seed=0), strip, nrow=16)
    cfg = state["config"]
    threads = "1 thread"
    return (f"| `{run.name}` | {describe(cfg)} | {state['step']:,} | {state['seconds'] / 60:.1f} "
            f"({threads}) | {metrics['fid']:.1f} | {metrics['kl']:.3f} | "
            f"{metrics['mnist_score']:.2f} | {metrics['precision']:.2f} | {metrics['recall']:.2f} "
            f"| {pde_activity(run)} | ![](img/experiments/{run.name}.png) |")


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(row(Path(arg)))
