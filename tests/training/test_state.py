"""The state of a run: seeded construction, and a state_dict that restores everything."""
import pytest
import torch

from gmgan_lib.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from gmgan_lib.models import PRESETS, GMGANConfig
from gmgan_lib.training.config import TrainConfig
from gmgan_lib.training.state import RunState, rng_state

SMALL = dict(model="gan", model_config={"g_width": 16, "d_width": 16})


def new(**kw) -> RunState:
    return RunState.new(TrainConfig(**{**SMALL, **kw}).resolved(), torch.device("cpu"))


def one_step(run: RunState) -> None:
    for net, opt in ((run.generator, run.opt_g), (run.discriminator, run.opt_d)):
        opt.zero_grad()
        x = torch.randn(4, 100) if net is run.generator else torch.randn(4, 1, 28, 28)
        net(x).square().mean().backward()
        opt.step()


def weights(run: RunState) -> list[torch.Tensor]:
    return [t.clone() for net in (run.generator, run.discriminator)
            for t in net.state_dict().values()]


def test_the_initial_weights_are_a_function_of_the_seed():
    assert all(torch.equal(a, b) for a, b in zip(weights(new(seed=3)), weights(new(seed=3))))
    assert not all(torch.equal(a, b) for a, b in zip(weights(new(seed=3)), weights(new(seed=4))))


def test_a_state_dict_restores_weights_optimisers_counters_noise_and_rng(tmp_path):
    run = new(seed=1)
    one_step(run)
    run.step, run.seconds = 7, 12.5
    torch.manual_seed(99)
    # Through a file, as a resumed run gets it (a state dict in memory shares the run's tensors).
    save_checkpoint(run.state_dict([rng_state(torch.device("cpu"))], epoch=2), tmp_path / "c.pt")
    state = load_checkpoint(tmp_path / "c.pt")
    expected_draw = torch.rand(3)

    other = new(seed=2)                    # other weights, other noise
    torch.manual_seed(0)
    other.load_state_dict(state)
    assert torch.equal(torch.rand(3), expected_draw)   # the random stream continues
    assert all(torch.equal(a, b) for a, b in zip(weights(run), weights(other)))
    assert torch.equal(other.noise, run.noise)
    assert (other.step, other.seconds) == (7, 12.5)
    one_step(run)                          # the optimisers' moments came along too
    torch.manual_seed(99)
    torch.rand(3)
    one_step(other)
    assert all(torch.equal(a, b) for a, b in zip(weights(run), weights(other)))


def test_weights_of_another_model_are_refused_naming_the_file():
    state = new().state_dict([rng_state(torch.device("cpu"))], epoch=1)
    wider = RunState.new(TrainConfig(model="gan", model_config={"g_width": 32}).resolved(),
                         torch.device("cpu"))
    with pytest.raises(CheckpointError, match=r"^runs/x/checkpoint.pt: its weights do not fit"):
        wider.load_state_dict(state, where="runs/x/checkpoint.pt")


def test_validation_leaves_the_configuration_as_it_was():
    config = TrainConfig(model="gmgan", model_config={"preset": "hybrid-gd"})
    config.validate()
    assert config.model_config == {"preset": "hybrid-gd"}
    resolved = config.resolved()
    assert config.model_config == {"preset": "hybrid-gd"}
    assert isinstance(resolved.model_config, GMGANConfig)          # typed, complete
    assert resolved.model_config == PRESETS["hybrid-gd"]
    assert resolved.resolved() == resolved            # resolving twice changes nothing
    # What checkpoints store is the plain dict, and it comes back as the same object; so does
    # config.json's, whose run facts are left out.
    assert TrainConfig.from_dict(resolved.to_dict()) == resolved
    facts = {"steps_per_epoch": 3, "world_size": 1, "total_steps": 9, "parameters": {}}
    assert TrainConfig.from_dict({**resolved.to_dict(), **facts}) == resolved


@pytest.mark.parametrize("saved, message", [
    (None, "a saved training config must be a dict, got NoneType"),
    ({"epochs": -5}, "epochs must be a positive integer, got -5"),
    ({"epochs": 5, "colour": "red"}, r"unknown training config field\(s\) \['colour'\]"),
    ({"model": "gan", "model_config": {"kernel_size": [3, 3, 3]}},
     r"unknown DCGAN config field\(s\) \['kernel_size'\]"),
    ({"model_config": {1: 2}}, r"model_config keys must be field names, got 1"),
])
def test_a_saved_configuration_is_checked_when_read(saved, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_dict(saved)


def test_parameter_counts_add_up():
    run = new()
    counts = run.parameters()
    assert counts["total"] == counts["generator"] + counts["discriminator"]
    assert counts["generator"] == sum(p.numel() for p in run.generator.parameters())
