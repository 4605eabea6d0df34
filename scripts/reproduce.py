#!/usr/bin/env python
"""The paper's comparison at CPU scale: every run of the table, resumable, in one command.

    python scripts/reproduce.py                 # the whole table (about 2.5 hours on 2 cores, measured)
    python scripts/reproduce.py --list          # the runs, and which are done
    python scripts/reproduce.py --only 'gmgan-mnist-*' --minutes 10
    python scripts/reproduce.py --table         # docs/results.md's table from the results
    python scripts/reproduce.py --plot docs/img/cpu_table_curves.png
    python scripts/reproduce.py --export        # the seed-0 generators -> data/checkpoints/cpu-table
    python scripts/reproduce.py --grids docs/img/cpu_table_samples.png
    make reproduce                              # the first line
    python scripts/reproduce.py --part data-efficiency [--list | --table | ...]
                                                # "Where geometry pays" (scripts/data_efficiency.py)

The table (docs/results.md): GM-GAN (the default ``gmgan``) and the DCGAN (``gan``), three training
seeds each, on MNIST, 10 % of MNIST (the fixed class-stratified subset of ``--data-fraction
0.1``), rotated MNIST and 10 % of it; and four ablations on MNIST, seed 0 (``gmgan-de``,
``pdecnn-r2``, the PDE layers in D only, and in both networks). Every run trains for the same
CPU budget (``--minutes`` of training time, 10 by default) on **one** thread, two runs at a time
(``--jobs``), with the demo's optimiser for both models (Adam 4e-4, betas (0, 0.9)), then its
final generator is evaluated with the project's protocol at N = 10,000 against the test split of
its dataset, with the feature classifier of that dataset. The seed-0 runs of both models on
MNIST and rotated MNIST also keep a snapshot every ``--segment`` minutes, each evaluated the same
way: the curves of FID_MNIST against CPU minutes.

Runs live in ``OUT/NAME`` (``runs/table`` by default). A run whose evaluation exists is finished
and is never trained again unless ``--force`` is given; an unfinished run resumes from its
checkpoint (training time already spent counts against the budget); a run whose checkpoint fails
its integrity check is named and left alone (remove it to start it again). The results of
finished runs are collected into ``--results`` (``docs/results/cpu_table.json``), a small file
to commit as runs finish.

A GPU machine runs the paper's protocol instead (200 epochs each, ``--protocol paper``: no time
budget, CUDA, one run at a time).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import fnmatch
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gmgan_lib.checkpoint import CheckpointError, load_checkpoint  # noqa: E402
from gmgan_lib.files import atomic_write, atomic_write_text, record_sha256, sha256_bytes  # noqa: E402
from gmgan_lib.models import build, count_parameters, from_saved  # noqa: E402

OPTIMISER = ["--lr", "4e-4", "--beta1", "0.0", "--beta2", "0.9"]   # the demo's, for both models


@dataclass(frozen=True)
class Run:
    """One line of the table."""

    name: str
    model: str
    dataset: str = "mnist"
    fraction: float = 1.0
    seed: int = 0
    model_config: dict = field(default_factory=dict)
    curve: bool = False     # keep and evaluate a snapshot every segment

    def train_args(self) -> list[str]:
        args = ["--model", self.model, "--dataset", self.dataset, "--seed", str(self.seed),
                "--batch-size", "64", *OPTIMISER]
        if self.fraction != 1.0:
            args += ["--data-fraction", str(self.fraction)]
        if self.model_config:
            args += ["--model-config", json.dumps(self.model_config)]
        return args


def table() -> list[Run]:
    """Every run: the main table, then the ablations."""
    runs = []
    for dataset in ("mnist", "rotmnist"):
        for fraction in (1.0, 0.1):
            for seed in (0, 1, 2):      # the two models of one seed side by side
                for model in ("gmgan", "gan"):
                    tag = f"{dataset}" + ("-10pc" if fraction != 1.0 else "")
                    runs.append(Run(f"{model}-{tag}-seed{seed}", model, dataset, fraction, seed,
                                    curve=(seed == 0 and fraction == 1.0)))
    runs += [Run("ablation-gmgan-de-mnist", "gmgan-de"),
             Run("ablation-pdecnn-r2-mnist", "pdecnn-r2"),
             Run("ablation-pde-in-d-only-mnist", "gmgan",
                 model_config={"g_activation": "relu", "d_activation": "pde"}),
             Run("ablation-pde-in-both-mnist", "gmgan", model_config={"preset": "hybrid-gd"})]
    return runs


def _checkpoint_seconds(path: Path) -> float | None:
    """Training seconds of the checkpoint at ``path`` (None if there is none); CheckpointError
    if it fails its integrity check."""
    if not path.exists():
        return None
    return float(load_checkpoint(path)["seconds"])


def status(run: Run, out: Path, budget: float) -> str:
    """``done``, ``partial`` (resumable), ``new`` or ``damaged``."""
    folder = out / run.name
    if (folder / "eval" / "eval.json").exists():
        return "done"
    try:
        seconds = _checkpoint_seconds(folder / "checkpoint.pt")
    except CheckpointError:
        return "damaged"
    return "new" if seconds is None else "partial"


def _python(args: list[str], log: Path, threads: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "NUMBA_NUM_THREADS": str(threads),
           "GOMP_SPINCOUNT": os.environ.get("GOMP_SPINCOUNT", "3000")}
    with open(log, "a") as f:
        subprocess.run([sys.executable, "-m", "gmgan_lib", *args], cwd=ROOT, env=env, stdout=f,
                       stderr=subprocess.STDOUT, check=True)


def execute(run: Run, out: Path, budget: float, segment: float, n_eval: int, device: str,
            threads: int) -> str:
    """Train (or resume) ``run`` up to ``budget`` seconds of training, evaluate it; returns a
    one-line report."""
    folder = out / run.name
    (folder / "snapshots").mkdir(parents=True, exist_ok=True)
    log = out / f"{run.name}.log"
    common = ["train", *run.train_args(), "--device", device, "--epochs", "200",
              "--checkpoint-every", "500", "--log-every", "50", "--out", str(folder), "--resume"]
    if budget == float("inf"):    # the paper's protocol: 200 epochs, no snapshots
        _python(common, log, threads)
        run = dataclasses.replace(run, curve=False)
    step = segment if run.curve else budget
    target = 0.0
    while target < budget - 1e-6:
        target = min(budget, target + step)
        seconds = _checkpoint_seconds(folder / "checkpoint.pt") or 0.0
        if seconds < target * 0.99:   # (a resumed session may stop a step short of target)
            _python([*common, "--max-minutes", f"{(target - seconds) / 60:.4f}"], log, threads)
        if run.curve:
            snap = folder / "snapshots" / f"{round(target):06d}s.pt"
            if not snap.exists():
                snap.write_bytes((folder / "checkpoint.pt").read_bytes())
    snapshots = sorted((folder / "snapshots").glob("*s.pt")) if run.curve else []
    for snap in snapshots[:-1]:   # the last one is the final checkpoint, evaluated below
        if not (folder / f"eval-{snap.stem}" / "eval.json").exists():
            _python(["evaluate", "--checkpoint", str(snap), "--n", str(n_eval), "--seeds", "1",
                     "--out", str(folder / f"eval-{snap.stem}")], log, threads)
    _python(["evaluate", "--checkpoint", str(folder / "checkpoint.pt"), "--n", str(n_eval),
             "--seeds", "1", "--out", str(folder / "eval")], log, threads)
    m = json.loads((folder / "eval" / "eval.json").read_text())["per_seed"][0]
    return f"{run.name}: FID_MNIST {m['fid']:.1f}, class KL {m['kl']:.3f}, MNIST score " \
           f"{m['mnist_score']:.2f}"


def collect(runs: list[Run], out: Path, results: Path) -> int:
    """Write the figures of every finished run into ``results``; returns how many."""
    rows = {}
    for run in runs:
        folder = out / run.name
        evaluation = folder / "eval" / "eval.json"
        if not evaluation.exists():
            continue
        state = load_checkpoint(folder / "checkpoint.pt")
        curve = []
        for snap in sorted((folder / "snapshots").glob("*s.pt")):
            e = folder / f"eval-{snap.stem}" / "eval.json"
            e = e if e.exists() else evaluation
            s = load_checkpoint(snap)
            m = json.loads(e.read_text())["per_seed"][0]
            curve.append({"minutes": round(s["seconds"] / 60, 2), "steps": s["step"],
                          "fid": m["fid"], "kl": m["kl"], "mnist_score": m["mnist_score"]})
        data = json.loads(evaluation.read_text())
        pair = build(from_saved(run.model, state["config"]["model_config"]))
        rows[run.name] = {"model": run.model, "dataset": run.dataset, "fraction": run.fraction,
                          "seed": run.seed, "model_config": run.model_config,
                          "steps": state["step"], "seconds": round(state["seconds"], 1),
                          "parameters": {"generator": count_parameters(pair.generator),
                                         "discriminator": count_parameters(pair.discriminator)},
                          "metrics": data["per_seed"][0], "floor": data.get("floor"),
                          "curve": curve}
    results.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(results, json.dumps(rows, indent=1, sort_keys=True) + "\n")
    return len(rows)


def markdown_table(results: Path) -> str:
    """The collected figures as docs/results.md's table: one row per model, dataset and
    fraction (mean +- standard deviation over the seeds that finished), the ablations after."""
    import statistics

    rows = json.loads(results.read_text()) if results.exists() else {}
    groups: dict[tuple, list[dict]] = {}
    for name, row in rows.items():
        key = (name.startswith("ablation-"), row["dataset"], row["fraction"],
               name.rsplit("-seed", 1)[0] if not name.startswith("ablation-") else name)
        groups.setdefault(key, []).append(row)

    def spread(values, digits):
        mean = statistics.fmean(values)
        if len(values) < 2:
            return f"{mean:.{digits}f}"
        return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"

    lines = ["| run | dataset | data | parameters (G + D) | seeds | steps | FID_MNIST | class KL "
             "| MNIST score | precision | recall | floor FID_MNIST |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key in sorted(groups):
        runs = groups[key]
        m = [r["metrics"] for r in runs]
        p = runs[0]["parameters"]
        lines.append(
            f"| `{key[3]}` | {key[1]} | {'10 %' if key[2] != 1.0 else 'all'} "
            f"| {p['generator']:,} + {p['discriminator']:,} | {len(runs)} "
            f"| {statistics.fmean(r['steps'] for r in runs):,.0f} "
            f"| {spread([x['fid'] for x in m], 1)} | {spread([x['kl'] for x in m], 3)} "
            f"| {spread([x['mnist_score'] for x in m], 2)} "
            f"| {spread([x['precision'] for x in m], 2)} | {spread([x['recall'] for x in m], 2)} "
            f"| {runs[0]['floor']['per_seed'][0]['fid']:.2f} |")
    return "\n".join(lines)


def plot_curves(results: Path, image: Path) -> int:
    """The seed-0 curves (GM-GAN and the DCGAN, per dataset) as one figure at ``image``."""
    from gmgan_lib.viz import cpu_minute_curves

    rows = json.loads(results.read_text()) if results.exists() else {}
    curves: dict[str, dict] = {}
    for name, row in sorted(rows.items()):
        if row["curve"] and not name.startswith("ablation-"):
            label = {"gmgan": "GM-GAN", "gan": "DCGAN"}.get(row["model"], row["model"])
            curves.setdefault(row["dataset"], {})[label] = row["curve"]
    if not curves:
        print(f"error: {results} holds no curve yet", file=sys.stderr)
        return 1
    image.parent.mkdir(parents=True, exist_ok=True)
    fig = cpu_minute_curves(curves)
    atomic_write(image, lambda fh: fig.savefig(fh, format="png", dpi=110))
    print(f"wrote {image}")
    return 0


EXPORTED = ("gmgan-mnist-seed0", "gan-mnist-seed0", "gmgan-rotmnist-seed0", "gan-rotmnist-seed0")


def export_name(run: Run) -> str:
    """The committed generator's file name: model, dataset, fraction and seed."""
    fraction = "all" if run.fraction == 1.0 else f"{round(run.fraction * 100)}pc"
    return f"{run.model}-{run.dataset}-{fraction}-seed{run.seed}.pt"


def export(runs: list[Run], out: Path, folder: Path) -> int:
    """Write the generator-only files of the finished :data:`EXPORTED` runs into ``folder``
    and list them (sha256) in its ``SHA256SUMS`` (other entries kept); returns how many.
    Every call writes them again from the runs' checkpoints."""
    from gmgan_lib.sampling import export_generator

    written = 0
    for run in runs:
        if run.name not in EXPORTED or status(run, out, 0.0) != "done":
            continue
        target = export_generator(out / run.name / "checkpoint.pt", folder / export_name(run))
        record_sha256(folder, target.name, sha256_bytes(target.read_bytes()))
        written += 1
    return written


def sample_grids(folder: Path, image: Path, n: int = 64) -> int:
    """One panel of ``n`` samples (noise seed 0) per committed generator of ``folder``: rows
    are datasets, columns models."""
    from matplotlib.figure import Figure

    from gmgan_lib.sampling import sample
    from gmgan_lib.viz import image_grid

    import re

    names = [re.fullmatch(r"(gmgan|gan)-(.+)-all-seed0\.pt", f.name) for f in folder.glob("*.pt")]
    datasets = sorted({m.group(2) for m in names if m})
    if not datasets:
        print(f"error: {folder} holds no exported generator (run with --export first)",
              file=sys.stderr)
        return 1
    models = ["gmgan", "gan"]
    fig = Figure(figsize=(3.0 * len(models), 3.2 * len(datasets)))
    axes = fig.subplots(len(datasets), len(models), squeeze=False)
    for i, dataset in enumerate(datasets):
        for j, model in enumerate(models):
            ax = axes[i][j]
            ax.axis("off")
            path = folder / f"{model}-{dataset}-all-seed0.pt"
            if not path.exists():
                continue
            ax.imshow(image_grid(sample(path, n=n, seed=0)), cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{'GM-GAN' if model == 'gmgan' else 'DCGAN'}, {dataset}", fontsize=10)
    fig.tight_layout()
    image.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(image, lambda fh: fig.savefig(fh, format="png", dpi=110))
    print(f"wrote {image}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--part" in argv:   # a named part of the experiments with its own runner
        i = argv.index("--part")
        part = argv[i + 1] if i + 1 < len(argv) else ""
        if part not in PARTS:
            print(f"error: --part must be one of {', '.join(PARTS)}; got {part!r}", file=sys.stderr)
            return 2
        return PARTS[part](argv[:i] + argv[i + 2:])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "table",
                   help="folder of the run directories (default runs/table)")
    p.add_argument("--results", type=Path, default=ROOT / "docs" / "results" / "cpu_table.json",
                   help="where the figures of finished runs are collected")
    p.add_argument("--minutes", type=float, default=10.0,
                   help="training minutes per run, the same for every run (default 10)")
    p.add_argument("--segment", type=float, default=2.0,
                   help="minutes between the snapshots of the curve runs (default 2)")
    p.add_argument("--jobs", type=int, default=2, help="runs at a time, one thread each")
    p.add_argument("--n", type=int, default=10000, help="samples per evaluation (default 10,000)")
    p.add_argument("--only", default="*", help="run names to consider (a shell pattern)")
    p.add_argument("--force", action="store_true",
                   help="train finished runs again from scratch (their directories are removed)")
    p.add_argument("--list", action="store_true", help="print the runs and their status, then stop")
    p.add_argument("--table", action="store_true",
                   help="print the collected results (--results) as a markdown table, then stop")
    p.add_argument("--plot", type=Path, default=None,
                   help="write the curves of FID_MNIST against CPU minutes of the collected "
                        "results to this image, then stop")
    p.add_argument("--export", type=Path, nargs="?", const=ROOT / "data" / "checkpoints" / "cpu-table",
                   default=None, help="write the final generators of the seed-0 MNIST and rotated "
                                      "MNIST runs (generator-only, listed in SHA256SUMS) to this "
                                      "folder (default data/checkpoints/cpu-table), then stop")
    p.add_argument("--grids", type=Path, default=None,
                   help="draw 64 samples of each exported generator into this image, then stop")
    p.add_argument("--protocol", choices=("cpu", "paper"), default="cpu",
                   help="paper: the seed's protocol (200 epochs, no time budget, CUDA, one job)")
    args = p.parse_args(argv)
    for name in ("minutes", "segment"):
        if not getattr(args, name) > 0:
            p.error(f"--{name} must be a positive number of minutes, got {getattr(args, name)!r}")
    if args.jobs < 1 or args.n < 1:
        p.error("--jobs and --n must be positive integers")
    if args.table:
        print(markdown_table(args.results))
        return 0
    if args.plot is not None:
        return plot_curves(args.results, args.plot)
    if args.grids is not None:
        return sample_grids(args.export or ROOT / "data" / "checkpoints" / "cpu-table", args.grids)
    if args.export is not None:
        n = export(table(), args.out, args.export)
        print(f"{n} generators exported to {args.export}")
        return 0
    runs = [r for r in table() if fnmatch.fnmatch(r.name, args.only)]
    if not runs:
        p.error(f"--only {args.only!r} matches no run; `--list` shows their names")
    budget = 60.0 * args.minutes if args.protocol == "cpu" else float("inf")
    device, threads, jobs = ("cpu", 1, args.jobs) if args.protocol == "cpu" else ("cuda", 4, 1)
    states = {r.name: status(r, args.out, budget) for r in runs}
    if args.list:
        for r in runs:
            print(f"{states[r.name]:8s} {r.name}")
        return 0
    damaged = [name for name, s in states.items() if s == "damaged"]
    for name in damaged:
        print(f"error: {args.out / name / 'checkpoint.pt'} fails its integrity check; remove "
              f"{args.out / name} to train that run again", file=sys.stderr)
    todo = []
    for r in runs:
        if states[r.name] == "done" and not args.force:
            print(f"done     {r.name} (kept; --force trains it again)")
        elif states[r.name] != "damaged":
            if states[r.name] == "done":
                shutil.rmtree(args.out / r.name)
            todo.append(r)
    if args.protocol == "paper":
        print("the paper's protocol: 200 epochs per run on CUDA (hours per run on a GPU)")
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(execute, r, args.out, budget, 60.0 * args.segment, args.n,
                               device, threads): r for r in todo}
        for future in concurrent.futures.as_completed(futures):
            run = futures[future]
            try:
                print(future.result(), flush=True)
            except subprocess.CalledProcessError:
                failed += 1
                print(f"error: {run.name} failed; its log: {args.out / (run.name + '.log')}",
                      file=sys.stderr, flush=True)
            collect(table(), args.out, args.results)
    n = collect(table(), args.out, args.results)
    print(f"{n} finished runs collected in {args.results}")
    return 1 if failed or damaged else 0


def _data_efficiency(argv: list[str]) -> int:
    import data_efficiency   # scripts/data_efficiency.py, beside this file

    return data_efficiency.main(argv)


# The parts with a runner of their own (this file's own table is the part "cpu-table", the default).
PARTS = {"cpu-table": lambda argv: main(argv), "data-efficiency": _data_efficiency}


if __name__ == "__main__":
    sys.exit(main())
