"""When a run stops: signals, the time budget, the first non-finite loss."""
import math
import os
import signal
import time
from pathlib import Path

import pytest
import torch

from gmgan_lib.training.stopping import StopRule, divergence, graceful_stop


def losses(value):
    return torch.tensor(value), torch.tensor(0.5)


def test_the_first_non_finite_step_is_remembered_and_agreed(one_process):
    rule = StopRule({"interrupt": False}, None, one_process)
    for step, value in [(1, 0.7), (2, 0.6), (3, math.nan), (4, 0.5), (5, math.inf)]:
        assert rule.after_step(step, *losses(value)) is False
    assert rule.agree() == (3, None)
    assert rule.first_bad_step() == 3


def test_the_time_budget_stops_a_single_process_at_once(one_process):
    rule = StopRule({"interrupt": False}, 0.05, one_process)
    assert rule.after_step(1, *losses(0.7)) is False
    time.sleep(0.06)
    assert rule.after_step(2, *losses(0.7)) is True
    assert rule.agree() == (-1, "time")


def test_an_interrupt_wins_over_the_time_budget(one_process):
    flag = {"interrupt": False}
    rule = StopRule(flag, 0.0, one_process)
    flag["interrupt"] = True
    assert rule.after_step(1, *losses(0.7)) is True
    assert rule.agree() == (-1, "interrupt")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_first_signal_only_raises_the_flag_and_the_handlers_come_back(sig):
    before = signal.getsignal(sig)
    with graceful_stop() as flag:
        os.kill(os.getpid(), sig)
        time.sleep(0.01)
        assert flag == {"interrupt": True, "signal": sig}
        if sig == signal.SIGINT:       # a second Ctrl-C acts as usual
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), sig)
                time.sleep(0.01)
    assert signal.getsignal(sig) is before


def test_the_divergence_error_names_the_step_and_the_kept_checkpoint():
    kept = divergence(12, 9, Path("runs/x/checkpoint.pt"))
    assert str(kept) == ("loss became NaN or infinite at step 12; the run stopped; the last good "
                         "checkpoint (step 9) is kept in runs/x/checkpoint.pt")
    assert str(divergence(3, 0, Path("runs/x/checkpoint.pt"))).endswith("no checkpoint was written")
    assert str(divergence(3, 9, None)).endswith("no checkpoint was written")
