"""The package's layout as a user meets it: renamed modules say where they went, and every
long-running command shares one rule for devices and seeds (gmgan_lib.runtime)."""
from __future__ import annotations

import importlib

import pytest

import gmgan_lib
from gmgan_lib import runtime
from gmgan_lib.__main__ import build_parser


@pytest.mark.parametrize("old", sorted(gmgan_lib.RETIRED))
def test_a_retired_module_name_says_where_the_code_went(old):
    version, new = gmgan_lib.RETIRED[old]
    with pytest.raises(ModuleNotFoundError) as err:
        importlib.import_module(old)
    message = str(err.value)
    assert message.startswith(f"{old} was renamed in gmgan_lib {version}")
    first_new = new.split()[0]
    assert first_new in message
    importlib.import_module(first_new)          # ... and the new place exists


def test_a_submodule_of_a_retired_package_is_retired_too():
    with pytest.raises(ModuleNotFoundError, match="gmgan_lib.evaluation"):
        importlib.import_module("gmgan_lib.metrics.scores")


def test_an_unknown_module_keeps_pythons_own_message():
    with pytest.raises(ModuleNotFoundError, match="No module named 'gmgan_lib.no_such_room'"):
        importlib.import_module("gmgan_lib.no_such_room")


@pytest.mark.parametrize("command", ["train", "sample", "evaluate"])
def test_every_command_with_a_device_defaults_to_auto(command):
    sub = build_parser()._subparsers._group_actions[0].choices[command]
    device = next(a for a in sub._actions if "--device" in a.option_strings)
    assert device.default == "auto" and tuple(device.choices) == runtime.DEVICES


@pytest.mark.parametrize("bad", [-1, runtime.MAX_SEED + 1, 1.5, True, "3"])
def test_one_seed_rule_names_the_flag(bad):
    with pytest.raises(ValueError, match=r"^--seed must be an integer in \[0, "):
        runtime.check_seed(bad, "--seed")
    assert runtime.check_seed(runtime.MAX_SEED) == runtime.MAX_SEED


def test_one_device_rule_names_the_flag(monkeypatch):
    with pytest.raises(ValueError, match="^--device must be one of auto, cpu, cuda; got 'gpu'"):
        runtime.check_device("gpu", "--device")
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(ValueError, match="no CUDA device is available"):
        runtime.check_device("cuda", "--device")
    assert runtime.resolve_device("auto").type == "cpu"


@pytest.mark.parametrize("statement, old", [
    ("from gmgan_lib import train", "gmgan_lib.train"),
    ("from gmgan_lib import metrics", "gmgan_lib.metrics"),
    ("from gmgan_lib.models import gmgan", "gmgan_lib.models.gmgan"),
    ("from gmgan_lib.train import sample", "gmgan_lib.train"),
])
def test_every_form_of_import_of_a_retired_name_says_where_it_went(statement, old):
    with pytest.raises(ModuleNotFoundError, match=f"^{old} was renamed in gmgan_lib "):
        exec(statement, {})
    assert not hasattr(gmgan_lib, "no_such_name")       # other names: a plain AttributeError
