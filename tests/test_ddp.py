"""Two CPU processes under torchrun (gloo): same CLI procedure, ranks stay in sync, rank 0 writes."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from gmgan_lib.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[1]

WORKER = textwrap.dedent("""
    import hashlib, os, sys, torch
    from gmgan_lib import training
    from gmgan_lib.training import loop as tr

    out, report = sys.argv[1], sys.argv[2]
    rank = int(os.environ["RANK"])
    seen = []
    original = tr.gan_losses_step

    def recording(G, D, opt_g, opt_d, reals, *args):
        seen.extend(hashlib.sha256(real.numpy().tobytes()).hexdigest() for real in reals)
        return original(G, D, opt_g, opt_d, reals, *args)

    tr.gan_losses_step = recording
    config = training.TrainConfig(model="gan", batch_size=8, data_fraction=0.0012, max_steps=5,
                            log_every=1, checkpoint_every=100, device="cpu",
                            model_config={"g_width": 16, "d_width": 8})
    result = tr.train(config, out, verbose=rank == 0)
    state = [*result.generator.state_dict().values(), *result.discriminator.state_dict().values()]
    digest = hashlib.sha256(b"".join(t.detach().double().numpy().tobytes() for t in state)).hexdigest()
    with open(f"{report}.{rank}", "w") as f:
        f.write(digest + "\\n" + "\\n".join(seen) + "\\n")
""")


def test_two_gloo_processes_stay_in_sync(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out, report = tmp_path / "run", tmp_path / "report"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node=2", str(script), str(out), str(report)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    digest0, *batches0 = Path(f"{report}.0").read_text().split()
    digest1, *batches1 = Path(f"{report}.1").read_text().split()
    assert digest0 == digest1                          # identical weights and BN buffers
    assert len(batches0) == len(batches1) == 5
    assert set(batches0).isdisjoint(batches1)          # each rank trained on its own shard
    # Rank 0 alone wrote the run directory; the checkpoint holds both ranks' RNG states.
    ck = load_checkpoint(out / "checkpoint.pt")
    assert ck["step"] == 5 and ck["world_size"] == 2 and len(ck["rng"]) == 2
    assert not torch.equal(ck["rng"][0]["cpu"], ck["rng"][1]["cpu"])   # distinct noise streams
    lines = (out / "metrics.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["1", "2", "3", "4", "5"]


def test_sigterm_under_torchrun_writes_a_checkpoint(tmp_path):
    # What a scheduler does before it kills a job: SIGTERM to torchrun, which passes it to its
    # workers. Both ranks agree on stopping at the next logging step and rank 0 checkpoints.
    import signal
    import time

    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "gmgan_lib", "train", "--model", "gan", "--model-config",
         '{"g_width": 16, "d_width": 8}', "--batch-size", "8", "--data-fraction", "0.05",
         "--max-steps", "100000", "--log-every", "1", "--checkpoint-every", "100000",
         "--device", "cpu", "--out", str(out)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            if (out / "metrics.csv").exists() and len((out / "metrics.csv").read_text().splitlines()) > 4:
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        printed, err = proc.communicate(timeout=90)
    finally:
        proc.kill()
    ck = load_checkpoint(out / "checkpoint.pt")
    rows = (out / "metrics.csv").read_text().splitlines()[1:]
    assert ck["step"] == int(rows[-1].split(",")[0]) >= 4, err[-3000:]
    assert ck["world_size"] == 2
    assert "interrupted by SIGTERM: checkpoint written at step" in printed, printed[-2000:]
