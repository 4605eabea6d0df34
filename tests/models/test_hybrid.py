"""The hybrid GM-GAN (p4 group convolutions + morphological PDE nonlinearity, the default
``gmgan``): exact quarter-turn equivariance of D's features (and invariance of D with the
invariant head) and of G's synthesis network, and the placement options. What holds for both readings (gradients to every parameter, the
translation-only contrast, batch-independent samples) is tested in test_all_pde.py."""
import pytest
import torch

from gmgan_lib.models import build, count_parameters
from gmgan_lib.nn import ConvectionM2, DilationM2, GroupConvM2, rot90_m2, rot90_r2

f64 = torch.float64


def randomise(module: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial transport (convection starts at the identity) and batch-norm affine maps."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, ConvectionM2):
            m.g0.data = torch.rand(m.g0.shape, generator=g, dtype=m.g0.dtype) * 2 - 1


@pytest.mark.parametrize("config", [{}, {"d_activation": "lrelu"}, {"d_batch_norm": False},
                                    {"d_minibatch_std": True}],
                         ids=["pde", "lrelu", "no-bn", "minibatch-std"])
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_invariant_discriminator_is_invariant_to_quarter_turns(config, mode):
    torch.manual_seed(0)
    _, D = build("gmgan", preset="hybrid-tiny", d_head="invariant", **config)
    D = D.double()
    randomise(D)
    D.train(mode == "train")   # train mode: batch statistics, which a rotation only permutes
    x = torch.rand(6, 1, 28, 28, dtype=f64) * 2 - 1
    with torch.no_grad():
        logits = D(x)
        assert logits.std() > 1e-6                   # not trivially invariant (a constant)
        for k in (1, 2, 3):
            assert (D(rot90_r2(x, k)) - logits).abs().max() < 1e-10


@pytest.mark.parametrize("config", [{}, {"d_activation": "lrelu"}, {"d_minibatch_std": True}],
                         ids=["pde", "lrelu", "minibatch-std"])
def test_linear_head_discriminator_has_equivariant_features_and_sees_orientation(config):
    # The default head: everything before it commutes with quarter turns (turning the image
    # turns D's last feature map), and the Linear over that map tells a digit from its turned
    # copy, which an upright-MNIST discriminator has to do.
    torch.manual_seed(0)
    _, D = build("gmgan", preset="hybrid-tiny", **config)
    D = D.double().eval()
    randomise(D)
    x = torch.rand(6, 1, 28, 28, dtype=f64) * 2 - 1
    features = lambda x: D.block1(D.block0(x))
    with torch.no_grad():
        for k in (1, 2, 3):
            assert (features(rot90_r2(x, k)) - rot90_m2(features(x), k)).abs().max() < 1e-10
            assert (D(rot90_r2(x, k)) - D(x)).abs().max() > 1e-4


def test_generator_synthesis_is_equivariant():
    # From its first feature map on, G commutes with quarter turns: turning that map turns
    # the image. (The Linear from the latent has no group structure, as in Dey et al.)
    torch.manual_seed(0)
    G, _ = build("gmgan", latent_dim=8, preset="hybrid-tiny")
    G = G.double().eval()
    randomise(G)
    h = torch.randn(3, 4, 4, 7, 7, dtype=f64)
    with torch.no_grad():
        for k in (1, 2, 3):
            err = (G.synthesis(rot90_m2(h, k)) - rot90_r2(G.synthesis(h), k)).abs().max()
            assert err < 1e-12


@pytest.mark.parametrize("config, in_g, in_d", [
    ({}, (7, 14), (14, 7)), ({"g_activation": "relu"}, (), (14, 7)),
    ({"d_activation": "lrelu"}, (7, 14), ()),
    ({"g_activation": "pde-7x7", "d_activation": "pde-7x7"}, (7,), (7,))])
def test_pde_layers_sit_where_the_config_says(config, in_g, in_d):
    # (hybrid-tiny puts them in both networks, so that unit tests exercise D's as well)
    G, D = build("gmgan", preset="hybrid-tiny", **config)
    G(torch.randn(2, 100))
    D(torch.rand(2, 1, 28, 28))
    seen = []       # the map sizes the dilations see, in the order they run
    hook = lambda m, args: seen.append(args[0].shape[-1])
    for m in [*G.modules(), *D.modules()]:
        if isinstance(m, DilationM2):
            m.register_forward_pre_hook(hook)
    G(torch.randn(2, 100))
    assert tuple(seen) == in_g
    seen.clear()
    D(torch.rand(2, 1, 28, 28))
    assert tuple(seen) == in_d
    assert any(isinstance(m, GroupConvM2) for m in G.modules())     # equivariant either way
    assert any(isinstance(m, GroupConvM2) for m in D.modules())


def test_convection_where_the_config_says():
    # The default has none (docs/experiments.md: not better per CPU minute), so "gmgan-de"
    # builds the same network; the "hybrid-cde" preset adds it.
    for name, config, has in [("gmgan-de", {}, False), ("gmgan", {}, False),
                              ("gmgan", {"preset": "hybrid-cde"}, True)]:
        G, D = build(name, **config)
        assert any(isinstance(m, ConvectionM2) for m in [*G.modules(), *D.modules()]) is has


def test_default_pde_layers_are_active_at_initialisation():
    # metric_init_scale=2 makes the morphology milder, not absent: on unit-scale input a
    # neighbour still wins a fair share of G's dilations (a measured property of the default,
    # so that "the PDE layers are the nonlinearity" stays true).
    torch.manual_seed(0)
    G, _ = build("gmgan")
    f = torch.randn(64, 32, 4, 7, 7)
    with torch.no_grad():
        changed = (G.block0[1][0](f) != f).float().mean().item()
    assert 0.05 < changed < 0.6, changed


def test_minibatch_std_sees_the_batch_spread():
    # A batch of one image repeated has no spread: D's logits then differ from those of the
    # same images in a varied batch only through that feature.
    torch.manual_seed(0)
    _, D = build("gmgan", preset="hybrid-tiny", d_minibatch_std=True)
    D = D.double().eval()
    x = torch.rand(4, 1, 28, 28, dtype=f64) * 2 - 1
    same = x[:1].expand(4, -1, -1, -1)
    with torch.no_grad():
        assert not torch.allclose(D(x)[:1], D(same)[:1])
        _, D0 = build("gmgan", preset="hybrid-tiny")
    assert D.head.weight.shape[1] == D0.head.weight.shape[1] + 4 * 7 * 7     # one more field


def test_default_has_fewer_parameters_than_the_dcgan_and_the_same_skeleton():
    # A quarter of the DCGAN's channels per orientation: each group convolution costs what the
    # DCGAN's convolution costs, with a quarter of its weights.
    G, D = build("gmgan")
    Gb, Db = build("gan")
    assert count_parameters(G) < count_parameters(Gb)
    assert count_parameters(D) < count_parameters(Db) / 3
    assert G.project.out_features == Gb.project[0].out_features      # the same 7x7 seed map


def test_the_default_gmgan_has_its_pde_layers_in_g_and_hybrid_gd_in_both():
    # docs/experiments.md, section 6: in G only they are as good per CPU minute and cheaper.
    def count(module):
        return sum(isinstance(m, DilationM2) for m in module.modules())
    G, D = build("gmgan")
    assert (count(G), count(D)) == (2, 0)
    G, D = build("gmgan", preset="hybrid-gd")
    assert (count(G), count(D)) == (2, 2)
