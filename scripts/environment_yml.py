"""Write environment.yml (conda, Binder) from requirements/lock.txt: the same pins, so the two
never drift apart (tests/test_environment.py checks it).

    python scripts/environment_yml.py      # scripts/lock.sh runs it after every new lock

Conda provides Python and pip only; every library comes from pip with the lock's pins. The
CUDA runtime wheels that torch pulls in on Linux (``nvidia-*``, ``cuda-*``) are left out: conda
users get torch's CPU wheels from PyTorch's CPU index, which need none of them.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CUDA_PREFIXES = ("nvidia-", "cuda-")

HEADER = """\
# Written by scripts/environment_yml.py from requirements/lock.txt: do not edit by hand.
# Conda environment for gmgan (Binder, conda/mamba users):
#   conda env create -f environment.yml && conda activate gmgan
# Conda provides Python and pip; every library comes from pip with the exact pins of
# requirements/lock.txt (the tested environment, Linux x86_64), without torch's CUDA runtime
# wheels: torch and torchvision come as CPU builds from PyTorch's CPU index.
name: gmgan
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip
  - pip:
      # CPU wheels of torch/torchvision (no multi-GB CUDA download on Binder or laptops);
      # torch==2.14.1 also accepts the CPU build 2.14.1+cpu from this index.
      - --extra-index-url https://download.pytorch.org/whl/cpu
"""


def is_cuda_runtime(name: str) -> bool:
    return name.lower().replace("_", "-").startswith(CUDA_PREFIXES)


def pins(lock_text: str) -> list[str]:
    """The ``name==version`` lines of a pip-compile lock, comments and annotations dropped."""
    out = []
    for line in lock_text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            out.append(line)
    return out


def render(lock_text: str) -> str:
    """The text of environment.yml for the lock ``lock_text``."""
    lines = [p for p in pins(lock_text) if not is_cuda_runtime(p.split("==")[0])]
    body = "".join(f"      - {p}\n" for p in lines)
    return HEADER + body + ("      # the package itself, editable, from the repository root "
                            "(where this file lives)\n      - -e .\n")


def main() -> int:
    text = render((ROOT / "requirements" / "lock.txt").read_text())
    (ROOT / "environment.yml").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
