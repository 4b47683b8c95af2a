import gzip
import struct

import numpy as np
import pytest

from skal.datasets import DATA_ROOT_ENV, load_dataset, read_idx, resolve_data_root


def _mnist_available():
    return any((root / "mnist").is_dir() for root in resolve_data_root())


def test_digits_flat_and_images():
    flat = load_dataset("digits")
    assert flat.X_train.dtype == np.float32 and flat.X_train.shape[1] == 64
    assert flat.X_train.min() >= 0 and flat.X_train.max() == 1.0
    assert len(flat.X_train) + len(flat.X_test) == 1797
    images = load_dataset("digits", flatten=False)
    assert images.X_train.shape[1:] == (1, 8, 8)
    np.testing.assert_array_equal(images.X_train.reshape(len(images.X_train), -1), flat.X_train)
    np.testing.assert_array_equal(flat.classes, np.arange(10))


@pytest.mark.skipif(not _mnist_available(), reason="MNIST files not in ../shared/data")
def test_mnist_from_real_files():
    data = load_dataset("mnist")
    assert data.X_train.shape == (60000, 1, 28, 28) and data.X_test.shape == (10000, 1, 28, 28)
    assert data.X_train.dtype == np.float32
    assert 0.0 <= data.X_train.min() and data.X_train.max() == 1.0
    # The first training labels of the official file.
    np.testing.assert_array_equal(data.y_train[:8], [5, 0, 4, 1, 9, 2, 1, 3])
    assert np.bincount(data.y_test).sum() == 10000
    flat = load_dataset("mnist", flatten=True)
    assert flat.X_test.shape == (10000, 784)


def _write_idx(path, array):
    codes = {np.dtype(np.uint8): 0x08}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + struct.pack(
        f">{array.ndim}i", *array.shape
    )
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.tobytes())


def test_idx_roundtrip_and_env_root(tmp_path, monkeypatch):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    tr_img = rng.integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    te_img = rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
    tr_lab = np.array([0, 1, 2, 3, 4, 5], dtype=np.uint8)
    te_lab = np.array([9, 8, 7, 6], dtype=np.uint8)
    _write_idx(folder / "train-images-idx3-ubyte.gz", tr_img)
    _write_idx(folder / "train-labels-idx1-ubyte.gz", tr_lab)
    _write_idx(folder / "t10k-images-idx3-ubyte.gz", te_img)
    _write_idx(folder / "t10k-labels-idx1-ubyte.gz", te_lab)
    np.testing.assert_array_equal(read_idx(folder / "train-images-idx3-ubyte.gz"), tr_img)

    monkeypatch.setenv(DATA_ROOT_ENV, str(tmp_path))
    data = load_dataset("fashion-mnist", flatten=True)
    np.testing.assert_allclose(data.X_train, tr_img.reshape(6, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(data.y_test, te_lab)


def test_corrupt_idx_is_reported(tmp_path):
    path = tmp_path / "bad.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(bytes([0, 0, 8, 1]) + struct.pack(">i", 10) + b"abc")
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_idx(path)


def test_missing_root_names_files_root_and_fix(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("mnist", data_root=missing)
    message = str(info.value)
    assert "train-images-idx3-ubyte.gz" in message
    assert "t10k-labels-idx1-ubyte.gz" in message
    assert str(missing) in message
    assert "--data-root" in message and DATA_ROOT_ENV in message


def test_unknown_name():
    with pytest.raises(ValueError, match="choose one of digits, mnist, fashion-mnist"):
        load_dataset("cifar-100")
