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
     r"^error: convection must be False for model 'gmgan-de' \(the model fixes it\), got True"),
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


def test_model_config_file_errors_name_the_file_and_never_print_it(tmp_path, capsys):
    secret = tmp_path / "notes.txt"
    secret.write_text("a password: hunter2\n")
    for arg, message in [(str(secret), f"--model-config file {secret} must hold a JSON object"),
                         (str(tmp_path / "missing.json"), "--model-config must be a JSON object "
                                                          "or a JSON file, got "),
                         ("x" * 300, "(File name too long)")]:
        assert main(["train", "--out", str(tmp_path / "run"), "--model-config", arg]) == 2
        err = capsys.readouterr().err
        assert message in err and "hunter2" not in err and len(err.strip().splitlines()) == 1


def test_a_preset_for_the_dcgan_is_refused(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "run"), "--model", "gan",
                 "--model.preset", "pde"]) == 2
    assert "preset must be absent for model 'gan'" in capsys.readouterr().err


def test_huge_numbers_are_one_line_not_an_overflow(tmp_path, capsys):
    # float(10**400) overflows: the check must not convert an int to test it.
    for argv in (["--epochs", "1" + "0" * 400], ["--model.orientations", "4" + "0" * 400]):
        assert main(["train", "--out", str(tmp_path / "run"), *argv]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1 and "..." in err
