"""Interrupting the kernel during training in a notebook (the stop button, notebook 04): the run
stops at the current step with a checkpoint and `train` returns normally."""
from __future__ import annotations

import queue
import time

import pytest

jupyter_client = pytest.importorskip("jupyter_client")

CODE = """
from gmgan_lib.live import LiveTraining
from gmgan_lib.training import TrainConfig, train
config = TrainConfig(model="gan", batch_size=8, data_fraction=0.0006, max_steps=100_000,
                     log_every=1, checkpoint_every=1_000_000)
result = train(config, r"{out}", progress=False,
               on_log=LiveTraining(every_seconds=3600, show=lambda fig: None))
print("STOPPED", result.stopped_by, result.step)
"""


def test_interrupt_kernel_stops_training_with_a_checkpoint(tmp_path):
    out = tmp_path / "run"
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="python3")
    try:
        msg_id = kc.execute(CODE.format(out=out))
        metrics = out / "metrics.csv"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:     # wait until it is training
            if metrics.exists() and len(metrics.read_text().splitlines()) > 5:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the training never started")
        km.interrupt_kernel()                   # what the stop button does
        printed, status = "", None
        while status is None:
            msg = kc.get_iopub_msg(timeout=120)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                printed += msg["content"]["text"]
            elif msg["msg_type"] == "error":
                pytest.fail("the interrupt surfaced as an error:\n" + msg["content"]["ename"])
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                status = "idle"
    except queue.Empty:
        pytest.fail("the kernel did not answer within 120 s")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert "STOPPED interrupt" in printed, printed
    step = int(printed.split("STOPPED interrupt")[1].split()[0])
    assert 5 <= step < 100_000
    assert (out / "checkpoint.pt").exists()
    assert "interrupted by SIGINT: checkpoint written" in printed
