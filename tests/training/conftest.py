import pytest

from gmgan_lib.training.distributed import Distributed


@pytest.fixture
def one_process(monkeypatch):
    """A single-process Distributed, whatever torchrun variables the environment has."""
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    return Distributed("cpu")
