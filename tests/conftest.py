import pytest
import torch

# Small batches run fastest on one thread, and a loaded CI machine makes extra threads spin.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def lenet():
    from evodream.classifiers import load_classifier

    return load_classifier("lenet-mnist")


@pytest.fixture(scope="session", autouse=True)
def _engine_cache(tmp_path_factory):
    """Evolution exports models for ONNX Runtime: tests keep those files in a temporary folder
    (subprocesses inherit it), not in the user's ~/.cache/evodream."""
    import os

    before = os.environ.get("EVODREAM_CACHE")
    os.environ["EVODREAM_CACHE"] = str(tmp_path_factory.mktemp("evodream-cache"))
    yield
    if before is None:
        os.environ.pop("EVODREAM_CACHE", None)
    else:
        os.environ["EVODREAM_CACHE"] = before
