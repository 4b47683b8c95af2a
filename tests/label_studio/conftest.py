"""A real Label Studio server for these tests: ``tests/label_studio/run.sh`` starts one.

The server (and the ``label-studio-sdk`` the tests speak to it with) lives
in an environment of its own; run.sh starts it on 127.0.0.1 and passes its
address, an access token and its ``LOCAL_FILES_DOCUMENT_ROOT`` in
``SKAL_LS_URL``, ``SKAL_LS_TOKEN`` and ``SKAL_LS_DOCUMENT_ROOT``. Without
them (the main test run) this folder is not collected.
"""

import os
from pathlib import Path

import numpy as np
import pytest

if not os.environ.get("SKAL_LS_URL"):
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def server():
    """``(url, token, document_root)`` of the running server."""
    return os.environ["SKAL_LS_URL"], os.environ["SKAL_LS_TOKEN"], Path(os.environ["SKAL_LS_DOCUMENT_ROOT"])


@pytest.fixture(scope="session")
def client(server):
    from label_studio_sdk import LabelStudio

    url, token, _ = server
    return LabelStudio(base_url=url, api_key=token)


@pytest.fixture(scope="session")
def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y
