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


# -- generated data sets ------------------------------------------------------------------


def _digit_source():
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images / 16.0, d.target


def test_digit_segmentation_is_deterministic_for_a_random_state():
    from skal.datasets import make_digit_segmentation

    digits, labels = _digit_source()
    a = make_digit_segmentation(digits, labels, 20, canvas_size=24, digit_size=8, random_state=3)
    b = make_digit_segmentation(digits, labels, 20, canvas_size=24, digit_size=8, random_state=3)
    c = make_digit_segmentation(digits, labels, 20, canvas_size=24, digit_size=8, random_state=4)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.placements, b.placements)
    assert not np.array_equal(a.y, c.y)


@pytest.mark.parametrize("digit_size", [8, 6])  # pasted as is, and resized
def test_digit_segmentation_label_maps_match_the_pasted_digits(digit_size):
    from skal._digit_canvases import _resize
    from skal.datasets import make_digit_segmentation

    digits, labels = _digit_source()
    before = digits.copy()
    data = make_digit_segmentation(digits, labels, 30, canvas_size=24, digit_size=digit_size,
                                   max_digits=5, threshold=0.4, random_state=0)
    np.testing.assert_array_equal(digits, before)
    assert data.X.shape == (30, 1, 24, 24) and data.X.dtype == np.float32
    assert data.y.shape == (30, 24, 24) and data.y.dtype == np.int64
    covered = np.zeros(data.y.shape, dtype=int)
    for image, source, top, left, digit in data.placements:
        window = (image, slice(top, top + digit_size), slice(left, left + digit_size))
        patch = _resize(digits[source][None], digit_size)[0]
        assert digit == labels[source]
        np.testing.assert_allclose(data.X[image, 0][window[1:]], patch, atol=1e-6)
        np.testing.assert_array_equal(data.y[window], np.where(patch >= 0.4, digit + 1, 0))
        covered[window] += 1
    assert covered.max() == 1  # digits never overlap
    # outside the pasted digits: blank canvas, background label
    assert not data.X[:, 0][covered == 0].any() and not data.y[covered == 0].any()
    counts = np.bincount(data.placements["image"], minlength=30)
    assert counts.min() >= 1 and counts.max() <= 5


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_samples": 0}, ValueError, "n_samples == 0"),
        ({"digit_size": 30}, ValueError, "A digit must fit on the canvas"),
        ({"max_digits": 10}, ValueError, "has 9 cells of 8 pixels"),
        ({"threshold": 0}, ValueError, "threshold"),
        ({"canvas_size": 2.5}, TypeError, "canvas_size"),
        ({"digits": np.zeros((3, 8)), "labels": np.zeros(3)}, ValueError, r"\(n_digits, h, w\)"),
        ({"labels": np.full(1797, 10)}, ValueError, "digit classes"),
        ({"digits": np.full((1797, 8, 8), 16.0)}, ValueError, r"intensities in \[0, 1\]"),
    ],
)
def test_digit_segmentation_rejects_bad_input_clearly(kwargs, error, match):
    from skal.datasets import make_digit_segmentation

    digits, labels = _digit_source()
    params = {"digits": digits, "labels": labels, "n_samples": 4, "canvas_size": 24, "digit_size": 8,
              **kwargs}
    with pytest.raises(error, match=match):
        make_digit_segmentation(params.pop("digits"), params.pop("labels"), params.pop("n_samples"),
                                **params)


@pytest.mark.skipif(not _mnist_available(), reason="MNIST files not in ../shared/data")
def test_mnist_segmentation_from_real_files():
    small = {"n_train": 12, "n_test": 5, "canvas_size": 32, "digit_size": 14}
    data = load_dataset("mnist-segmentation", **small)
    assert data.X_train.shape == (12, 1, 32, 32) and data.y_test.shape == (5, 32, 32)
    np.testing.assert_array_equal(data.classes, np.arange(11))
    assert data.class_names[0] == "background" and data.class_names[10] == "9"
    again = load_dataset("mnist-segmentation", **{**small, "n_test": 7})
    # the training canvases do not depend on the size of the test set
    np.testing.assert_array_equal(again.y_train, data.y_train)
    with pytest.raises(ValueError, match="cannot be flattened"):
        load_dataset("mnist-segmentation", flatten=True, **small)


@pytest.mark.parametrize("name, n_features", [("breast-cancer", 30), ("local-features", 64)])
def test_tabular_datasets_are_scaled_and_split(name, n_features):
    params = {"n_samples": 200, "side": 8} if name == "local-features" else {}
    data = load_dataset(name, **params)
    X = np.vstack([data.X_train, data.X_test])
    assert X.shape[1] == n_features and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0
    assert data.image_shape is None
    np.testing.assert_array_equal(np.unique(data.y_train), data.classes)
    with pytest.raises(ValueError, match="is tabular"):
        load_dataset(name, flatten=False, **params)


def test_unknown_dataset_parameters_are_named():
    with pytest.raises(TypeError, match="canvas_sise.*valid ones: n_train, n_test, canvas_size"):
        load_dataset("mnist-segmentation", canvas_sise=32)
    with pytest.raises(TypeError, match="valid ones: none"):
        load_dataset("digits", side=3)


def test_local_features_hide_images_behind_a_column_permutation():
    from skal.datasets import make_local_features

    data = make_local_features(400, side=8, n_classes=2, random_state=0)
    images = np.empty_like(data.X)
    images[:, data.permutation] = data.X
    images = images.reshape(-1, 8, 8)
    # neighbouring pixels of the hidden image correlate; a column and its
    # neighbour in the table need not
    def corr(a, b):
        return np.corrcoef(a, b)[0, 1]
    assert corr(images[:, 3, 3], images[:, 3, 4]) > 0.5
    assert abs(corr(images[:, 0, 0], images[:, 7, 7])) < 0.2
    same = make_local_features(400, side=8, n_classes=2, random_state=0)
    np.testing.assert_array_equal(same.X, data.X)
