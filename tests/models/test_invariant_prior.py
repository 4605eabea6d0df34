"""GM-GAN's geometric prior used on both sides (preset ``hybrid-invariant``): a generator whose
distribution is invariant to quarter turns by construction (a random turn per sample, read off
its noise) and an exactly invariant discriminator with each pooling over orientations."""
import pytest
import torch

from gmgan_lib.models import build, resolve_config
from gmgan_lib.models.hybrid import quarter_turns_of, turn_by_quarters
from gmgan_lib.nn import rot90_r2

f64 = torch.float64


def test_the_turns_read_off_gaussian_noise_are_uniform():
    z = torch.randn(40_000, 100, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(quarter_turns_of(z), minlength=4)
    assert counts.min() > 9_600 and counts.max() < 10_400       # 10,000 +- 4 standard deviations
    # ... and a function of the noise alone: the same noise, the same turns, on any dtype.
    assert torch.equal(quarter_turns_of(z), quarter_turns_of(z.clone()))
    assert torch.equal(quarter_turns_of(z[:5].double().float()), quarter_turns_of(z[:5]))


def test_the_turn_is_what_a_smooth_generator_cannot_see():
    """Flipping the lowest mantissa bits changes the turn, and G's un-turned image by ~1e-7."""
    torch.manual_seed(0)
    G = build("gmgan", preset="hybrid-tiny").generator.eval()
    z = torch.randn(256, 100)
    bits = z.view(torch.int32)
    other = (bits ^ torch.randint(0, 4, bits.shape, dtype=torch.int32)).view(torch.float32)
    assert (quarter_turns_of(z) != quarter_turns_of(other)).float().mean() > 0.6
    with torch.no_grad():
        assert (G(z) - G(other)).abs().max() < 1e-5


def test_the_random_turn_turns_each_sample_of_the_same_network_exactly():
    torch.manual_seed(0)
    plain = build("gmgan", preset="hybrid-tiny").generator.eval()
    turned = build("gmgan", preset="hybrid-tiny", g_random_turn=True).generator.eval()
    turned.load_state_dict(plain.state_dict())
    z = torch.randn(64, 100)
    k = quarter_turns_of(z)
    with torch.no_grad():
        a, b = plain(z), turned(z)
    for i in range(len(z)):
        assert torch.equal(b[i], torch.rot90(a[i], int(k[i]), dims=(-2, -1)))
    assert set(k.tolist()) == {0, 1, 2, 3}


def test_turn_by_quarters_is_differentiable_and_a_permutation():
    x = torch.rand(3, 1, 5, 5, dtype=f64, requires_grad=True)
    turns = torch.tensor([0, 1, 3])
    assert torch.autograd.gradcheck(lambda t: turn_by_quarters(t, turns), (x,))
    y = turn_by_quarters(x, turns)
    assert torch.equal(y.detach().flatten(1).sort(1).values, x.detach().flatten(1).sort(1).values)


@pytest.mark.parametrize("pool", ["max", "mean", "logsumexp"])
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_the_invariant_head_is_invariant_with_every_pooling(pool, mode):
    torch.manual_seed(0)
    D = build("gmgan", preset="hybrid-tiny", d_head="invariant", d_pool=pool).discriminator.double()
    D.train(mode == "train")
    x = torch.rand(6, 1, 28, 28, dtype=f64) * 2 - 1
    with torch.no_grad():
        logits = D(x)
        assert logits.std() > 1e-6
        for k in (1, 2, 3):
            assert (D(rot90_r2(x, k)) - logits).abs().max() < 1e-10


def test_the_soft_maximum_lies_between_the_mean_and_the_max():
    torch.manual_seed(0)
    pools = {}
    for pool in ("max", "mean", "logsumexp"):
        torch.manual_seed(0)   # the same weights for the three
        pools[pool] = build("gmgan", preset="hybrid-tiny", d_head="invariant",
                            d_pool=pool).discriminator.double().eval()
    x = torch.rand(8, 1, 28, 28, dtype=f64) * 2 - 1
    with torch.no_grad():
        lo, soft, hi = (pools[p](x) for p in ("mean", "logsumexp", "max"))
    assert torch.all(lo <= soft + 1e-12) and torch.all(soft <= hi + 1e-12)
    assert torch.any(lo < hi - 1e-6)


def test_the_preset_uses_the_prior_on_both_sides():
    config = resolve_config("gmgan", preset="hybrid-invariant")
    assert (config["d_head"], config["d_pool"], config["g_random_turn"]) == ("invariant", "mean", True)
    assert resolve_config("gmgan")["g_random_turn"] is False     # the default is unchanged


@pytest.mark.parametrize("config, message", [
    ({"d_pool": "median"}, "d_pool must be one of"),
    ({"d_pool": "mean"}, "d_pool must be 'max' for d_head 'linear' \\(it applies to d_head "
                         "'invariant' only"),
    ({"g_random_turn": "yes"}, "g_random_turn must be True or False"),
    ({"preset": "pde-tiny", "g_random_turn": True}, "g_random_turn must be False for architecture "
                                                     "'pde' \\(it applies to architecture 'hybrid' only"),
])
def test_bad_prior_options_are_refused_naming_the_field(config, message):
    with pytest.raises(ValueError, match=message):
        resolve_config("gmgan", **config)


def test_the_retired_name_still_turns_and_says_it_goes_in_0_4_0():
    from gmgan_lib.models.hybrid import random_quarter_turns

    x, turns = torch.rand(3, 1, 5, 5), torch.tensor([0, 1, 3])
    with pytest.warns(FutureWarning, match="renamed turn_by_quarters.*goes in 0.4.0"):
        y = random_quarter_turns(x, turns)
    assert torch.equal(y, turn_by_quarters(x, turns))
