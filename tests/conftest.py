import pytest
import torch

# Small batches run fastest on one thread, and a loaded CI machine makes extra threads spin.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def lenet():
    from evodream.classifiers import load_classifier

    return load_classifier("lenet-mnist")
