"""build(name): the four model names, the config that rebuilds them, and clear errors."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gmgan_lib.models import MODEL_NAMES, PRESETS, GMGANConfig, build, resolve_config


def test_model_names():
    assert MODEL_NAMES == ("gmgan", "gan", "gmgan-de", "pdecnn-r2")


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_resolved_config_rebuilds_the_same_network(name):
    config = {} if name == "gan" else {"preset": "hybrid-tiny", "alpha": 0.8}
    resolved = resolve_config(name, **config)
    assert resolve_config(name, **resolved) == resolved          # a fixed point
    torch.manual_seed(0)
    a = build(name, latent_dim=12, **config)
    torch.manual_seed(0)
    b = build(name, latent_dim=12, **resolved)
    for net_a, net_b in zip(a, b):
        sa, sb = net_a.state_dict(), net_b.state_dict()
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_ablations_pin_their_field():
    assert resolve_config("gmgan-de")["convection"] is False
    assert resolve_config("pdecnn-r2")["group"] == "r2"
    assert resolve_config("gmgan") == PRESETS["hybrid"].to_dict()


@pytest.mark.parametrize("preset", ["hybrid", "pde-small"])
def test_config_round_trips_through_a_dict(preset):
    cfg = PRESETS[preset]
    assert GMGANConfig(**cfg.to_dict()) == cfg


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_builds_and_draws_images(preset):
    torch.manual_seed(0)
    G, D = build("gmgan", latent_dim=8, preset=preset)
    x = G(torch.randn(2, 8))
    assert x.shape == (2, 1, 28, 28) and D(x).shape == (2,)


@pytest.mark.parametrize("name, config, match", [
    ("vae", {}, r"model must be one of gmgan, gan, gmgan-de, pdecnn-r2; got 'vae'"),
    ("gmgan", {"widht": 3}, r"unknown GM-GAN config field\(s\) \['widht'\]"),
    ("gmgan", {"preset": "huge"}, r"preset must be one of hybrid, hybrid-gd, hybrid-invariant, hybrid-cde, hybrid-tiny, pde"),
    ("gmgan", {"orientations": 6}, r"orientations must be a multiple of 4 in \[4, 64\], got 6"),
    ("gmgan", {"orientations": 8}, r"orientations must be 4 for architecture 'hybrid' \(p4 group convolutions"),
    ("gmgan", {"kernel_size": (4, 5, 5)}, r"kernel_size must be 3 odd integers in \[1, 15\] \(kOr, kH, kW\), got \[4, 5, 5\]"),
    ("gmgan", {"alpha": 0.5}, r"alpha must be in \[0.55, 1.0\], got 0.5"),
    ("gmgan", {"g_channels": (8, 8, 8)}, r"g_channels must be 2 positive integers \(the two block widths\) for architecture 'hybrid'"),
    ("gmgan", {"preset": "pde", "g_channels": (8, 8)}, r"g_channels must be 4 positive integers \(lift, CDE1, CDE2, CDE3\)"),
    ("gmgan", {"g_channels": (8, 4.5)}, r"g_channels must be a list of positive integers \(at most 4096\), got \[8, 4.5\]"),
    ("gmgan", {"g_channels": "abcd"}, r"g_channels must be a list of positive integers \(at most 4096\), got 'abcd'"),
    ("gmgan", {"architecture": "mlp"}, r"architecture must be one of hybrid, pde; got 'mlp'"),
    ("gmgan", {"g_activation": "gelu"}, r"g_activation must be one of pde, pde-7x7, relu; got 'gelu'"),
    ("gmgan", {"d_activation": "relu"}, r"d_activation must be one of pde, pde-7x7, lrelu; got 'relu'"),
    ("gmgan", {"preset": "pde", "g_activation": "relu"}, r"g_activation must be 'pde' for architecture 'pde' \(a 'pde' network is made of PDE layers"),
    ("gmgan", {"d_batch_norm": 1}, r"d_batch_norm must be True or False"),
    ("gan", {"g_width": 7}, r"g_width must be an even integer in \[2, 16,384\], got 7"),
    ("gan", {"d_batch_norm": "no"}, r"d_batch_norm must be True or False"),
    ("gmgan", {"group": "se3"}, r"group must be one of m2, r2; got 'se3'"),
    ("gmgan-de", {"convection": True}, r"convection must be False for model 'gmgan-de' \(the model fixes it\), got True"),
    ("gan", {"width": 64}, r"unknown DCGAN config field\(s\) \['width'\]; valid fields: \['g_width', 'd_width', 'd_batch_norm'\]"),
    # Issue 16: values that allocated terabytes or failed with a message naming nothing.
    ("gmgan", {"g_channels": [99999999, 4]}, r"g_channels must be a list of positive integers \(at most 4096\), got \[99999999, 4\]"),
    ("gmgan", {"kernel_size": [3, 99, 3]}, r"kernel_size must be 3 odd integers in \[1, 15\] \(kOr, kH, kW\), got \[3, 99, 3\]"),
    ("gmgan", {"preset": "pde", "orientations": 4096}, r"orientations must be a multiple of 4 in \[4, 64\], got 4096"),
    ("gmgan", {"alpha": "x"}, r"alpha must be in \[0.55, 1.0\], got 'x'"),
    ("gmgan", {"kernel_size": -3}, r"kernel_size must be 3 odd integers in \[1, 15\] \(kOr, kH, kW\), got -3"),
    ("gan", {"g_width": 10**9}, r"g_width must be an even integer in \[2, 16,384\], got 1000000000"),
    ("gmgan", {"preset": []}, r"preset must be one of"),      # found by tests/test_cli_fuzz.py
    ("gmgan", {"alpha": float("nan")}, r"alpha must be in \[0.55, 1.0\], got nan"),
    # A field the architecture does not read is refused, not ignored (issue 26).
    ("gmgan", {"lift_kernel": 3}, r"lift_kernel must be 5 for architecture 'hybrid' \(it applies "
                                  r"to architecture 'pde' only\), got 3"),
    ("gmgan", {"g_seed_channels": 8}, r"g_seed_channels must be 32 for architecture 'hybrid'"),
    ("gmgan", {"preset": "pde", "d_minibatch_std": True},
     r"d_minibatch_std must be False for architecture 'pde' \(it applies to architecture "
     r"'hybrid' only\), got True"),
    ("gmgan", {"preset": "pde", "g_projection": "mean"}, r"g_projection must be 'max' for "
                                                         r"architecture 'pde'"),
    # ... and so is a field that the group or the activations make unread (review of issue 26)
    ("pdecnn-r2", {"g_projection": "mean"}, r"g_projection must be 'max' for group 'r2'"),
    ("gmgan", {"g_activation": "relu", "alpha": 0.8},
     r"alpha must be 0.65 without PDE layers \(g_activation 'relu', d_activation 'lrelu'\)"),
    # switching a preset's architecture keeps the preset's own choices, refused if unread
    ("gmgan", {"preset": "hybrid-invariant", "architecture": "pde", "g_channels": [4] * 4,
               "d_channels": [4] * 4}, r"d_pool must be 'max' for architecture 'pde'"),
    ("gmgan", {"preset": "pde", "architecture": "hybrid", "g_channels": [4, 4],
               "d_channels": [4, 4]}, r"orientations must be 4 for architecture 'hybrid'"),
    ("gan", {"preset": "pde"}, r"preset must be absent for model 'gan'"),
    ("gmgan", {"orientations": 10**400}, r"orientations must be a multiple of 4 in \[4, 64\], "
                                         r"got 1000000000000.{64}\.\.\.$"),
])
def test_bad_configs_are_rejected_naming_the_parameter(name, config, match):
    with pytest.raises(ValueError, match=match):
        build(name, **config)


def test_bad_latent_dim():
    with pytest.raises(ValueError, match="latent_dim must be a positive int"):
        build("gan", latent_dim=0)


def test_a_model_too_large_for_the_memory_is_refused_with_the_estimate():
    from gmgan_lib.models import check_memory, resolve

    config = resolve("gmgan")
    check_memory(config, 100, training=True)              # fits this machine
    # 700,738 parameters x 4 copies x 4 bytes = 11.2 MB: refused in 10 MB, not in 12 MB.
    with pytest.raises(ValueError, match=r"at least 0\.0 GiB for its weights, gradients and Adam "
                                         r"moments \(661,377 generator \+ 39,361 discriminator"):
        check_memory(config, 100, training=True, memory=10 * 2**20)
    check_memory(config, 100, training=True, memory=12 * 2**20)
    check_memory(config, 100, training=False, memory=3 * 2**20)   # weights of G only


def test_the_issues_huge_configuration_is_refused_before_any_work(tmp_path, capsys):
    from gmgan_lib.__main__ import main

    out = tmp_path / "run"
    rc = main(["train", "--latent-dim", "65536", "--model-config", '{"g_channels": [4096, 4096]}',
               "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "needs at least 800.0 GiB" in err and "use a smaller latent_dim" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


COMMITTED = sorted((Path(__file__).resolve().parents[2] / "data" / "checkpoints").rglob("*.pt"))


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.name)
def test_committed_checkpoints_read_back_as_typed_configurations_unchanged(path):
    # Issue 26: the typed configuration reads every committed checkpoint (0.1.0 ones included),
    # and writes back the very fields it stored (plus those added since, at their older values).
    from gmgan_lib.checkpoint import load_checkpoint
    from gmgan_lib.models import from_saved

    config = load_checkpoint(path, require=("config",))["config"]
    typed = from_saved(config["model"], config["model_config"])
    written = typed.to_dict()
    assert {k: written[k] for k in config["model_config"]} == config["model_config"]
    assert from_saved(config["model"], written) == typed
