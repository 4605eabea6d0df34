"""The three statements of the environment agree: pyproject.toml (lower bounds),
requirements/lock.txt (exact pins, what `make` installs) and environment.yml (conda/Binder).

No conda runs in CI, so this test is what keeps environment.yml honest.
"""
from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]


def _pins(lines: list[str], where: str) -> dict[str, str]:
    """``name==version`` lines -> {canonical name: version}; options and comments are skipped."""
    pins: dict[str, str] = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):  # --extra-index-url, -e .
            continue
        req = Requirement(line)
        spec = list(req.specifier)
        assert len(spec) == 1 and spec[0].operator == "==", f"{where}: {line!r} is not an exact pin"
        name = canonicalize_name(req.name)
        assert name not in pins, f"{where}: {req.name} is pinned twice"
        pins[name] = spec[0].version
    return pins


@pytest.fixture(scope="module")
def lock() -> dict[str, str]:
    return _pins((REPO / "requirements" / "lock.txt").read_text().splitlines(), "lock.txt")


@pytest.fixture(scope="module")
def env() -> dict:
    return yaml.safe_load((REPO / "environment.yml").read_text())


def test_environment_yml_is_a_usable_conda_file(env):
    assert env["name"] == "gmgan"
    assert "conda-forge" in env["channels"]
    deps = env["dependencies"]
    assert "python=3.11" in deps and "pip" in deps
    pip_sections = [d["pip"] for d in deps if isinstance(d, dict)]
    assert len(pip_sections) == 1 and all(isinstance(x, str) for x in pip_sections[0])
    assert "-e ." in pip_sections[0]  # Binder/conda users get gmgan_lib itself installed


def test_environment_yml_pins_equal_the_lock(env, lock):
    pip_lines = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_pkgs = [d for d in env["dependencies"] if isinstance(d, str)]
    assert _pins(pip_lines, "environment.yml") == lock
    # nothing locked is also installed from conda under another version
    conda_names = {canonicalize_name(d.split("=")[0]) for d in conda_pkgs}
    assert conda_names == {"python", "pip"}


def test_pyproject_bounds_are_met_by_the_pins(lock):
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    assert reqs, "pyproject.toml names no dependencies"
    for line in reqs:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name in lock, f"{req.name} is a dependency in pyproject.toml but not pinned in lock.txt"
        assert req.specifier.contains(Version(lock[name]), prereleases=True), (
            f"pin {req.name}=={lock[name]} violates pyproject.toml's {req}")


def test_torch_pins_are_the_offline_ones(lock):
    # Only these install without a multi-GB download on the project's machine kind (issue 2).
    assert lock["torch"] == "2.14.1" and lock["torchvision"] == "0.29.1"


def test_running_environment_is_the_locked_one(lock):
    """`make` installs with `-c requirements/lock.txt`: what runs the tests is what is locked."""
    wrong = {}
    for name, version in lock.items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = "missing"
        # a local build label (2.14.1+cpu) is the same release
        if installed == "missing" or Version(installed).public != Version(version).public:
            wrong[name] = (version, installed)
    assert not wrong, f"installed versions differ from requirements/lock.txt (pin, installed): {wrong}"
