import os

import numpy as np
import pytest
import torch

# Two CI cores: one intra-op thread per test process avoids oversubscription
# and keeps timings of small nets stable.
torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    run_slow = os.environ.get("SKAL_RUN_SLOW") == "1"
    has_gpu = torch.cuda.is_available()
    skip_slow = pytest.mark.skip(reason="slow test: set SKAL_RUN_SLOW=1 to run it")
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device; none is present")
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(skip_slow)
        if "gpu" in item.keywords and not has_gpu:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def digits():
    """The digits data shipped with scikit-learn, as float32 in [0, 1]."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y


@pytest.fixture
def ctrl_c_delivered():
    """SIGINT raises KeyboardInterrupt during the test, as at an interactive shell.

    A job started in the background (``cmd &``, nohup) inherits SIGINT as
    ignored, and Python then installs no handler: the tests that send
    themselves a Ctrl-C would see nothing. The handler is restored after.
    """
    import signal

    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)
