import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch.set_num_threads(2)

from imlib.data.task import Task  # noqa: E402


@pytest.fixture
def binary_task():
    return Task("binary", 3, 1, ("fg",))


@pytest.fixture
def multiclass_task():
    return Task("multiclass", 3, 4, ("IM", "a", "b", "c"))


@pytest.fixture
def multilabel_task():
    return Task("multilabel", 1, 3, ("alive", "dead", "position"), position_channel=2, alive_channel=0, dead_channel=1)


@pytest.fixture
def offline_url() -> str:
    """A local address with nothing listening: connecting to it fails as it does offline."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/"
