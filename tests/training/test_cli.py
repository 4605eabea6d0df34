"""`python -m gmgan_lib train`'s flags, derived from the configurations (issue 26, item 2)."""
from __future__ import annotations

import argparse
import json

import pytest

from gmgan_lib.__main__ import main
from gmgan_lib.fields import declared
from gmgan_lib.models import PRESETS, DCGANConfig, GMGANConfig
from gmgan_lib.training.cli import add_train_arguments, config_from_args


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    return parser.parse_args(["--out", "somewhere", *argv])


def test_help_lists_every_field_of_both_model_configurations(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())       # argparse wraps lines
    for config_type in (GMGANConfig, DCGANConfig):
        for f in declared(config_type):
            assert "--model." + f.name.replace("_", "-") in text, f.name
            assert " ".join(f.metadata["help"].split()) in text, f.name
    assert "--model.preset" in text and "--model-config FILE|JSON" in text


def test_no_model_flag_means_the_models_defaults():
    assert config_from_args(parse()).model_config == {}
    assert config_from_args(parse()).resolved().model_config == PRESETS["hybrid"]


def test_model_flags_set_fields_and_win_over_the_json():
    args = parse("--model.kernel-size", "3", "5", "5", "--model.d-head", "invariant",
                 "--model.d-pool", "mean", "--model.convection", "true",
                 "--model-config", json.dumps({"kernel_size": [5, 5, 5], "alpha": 0.8}))
    config = config_from_args(args).resolved()
    assert config.model_config == PRESETS["hybrid"].replace(
        kernel_size=(3, 5, 5), d_head="invariant", d_pool="mean", convection=True, alpha=0.8)


def test_a_preset_flag_and_a_dcgan_field(tmp_path):
    assert (config_from_args(parse("--model.preset", "pde-tiny")).resolved().model_config
            == PRESETS["pde-tiny"])
    config = config_from_args(parse("--model", "gan", "--model.g-width", "32",
                                    "--model.d-batch-norm", "false")).resolved()
    assert config.model_config == DCGANConfig(g_width=32, d_batch_norm=False)


def test_model_config_may_name_a_file(tmp_path):
    path = tmp_path / "arch.json"
    path.write_text(json.dumps({"preset": "hybrid-invariant"}))
    config = config_from_args(parse("--model-config", str(path))).resolved()
    assert config.model_config == PRESETS["hybrid-invariant"]


@pytest.mark.parametrize("argv, message", [
    # a field of the other model: refused, naming it and the valid ones
    (["--model", "gan", "--model.kernel-size", "3", "3", "3"],
     r"^error: unknown DCGAN config field\(s\) \['kernel_size'\]; valid fields: "),
    (["--model.g-width", "64"], r"^error: unknown GM-GAN config field\(s\) \['g_width'\]"),
    # a field the architecture does not read: refused, not ignored
    (["--model.lift-kernel", "3"], r"^error: lift_kernel must be 5 for architecture 'hybrid'"),
    (["--model.kernel-size", "4", "5", "5"],
     r"^error: kernel_size must be 3 odd integers in \[1, 15\] \(kOr, kH, kW\), got \[4, 5, 5\]"),
    (["--model", "gmgan-de", "--model.convection", "true"],
     r"^error: model 'gmgan-de' fixes convection=False"),
])
def test_bad_model_flags_are_one_line_and_exit_2(tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and __import__("re").match(message, err), err
    assert not out.exists()


@pytest.mark.parametrize("argv", [["--model.convection", "maybe"], ["--model.d-head", "sideways"],
                                  ["--model.kernel-size", "3", "3"], ["--model.alpha", "x"]])
def test_values_argparse_cannot_read_are_its_usage_error_with_exit_2(tmp_path, capsys, argv):
    with pytest.raises(SystemExit) as stop:
        main(["train", "--out", str(tmp_path / "run"), *argv])
    assert stop.value.code == 2
    assert "error:" in capsys.readouterr().err.strip().splitlines()[-1]
