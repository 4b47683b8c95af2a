"""Data sets for examples, tests and benchmarks, read from local files only.

Nothing is downloaded at run time. ``digits`` ships with scikit-learn;
MNIST and Fashion-MNIST are read straight from their original gzipped IDX
files (a header of big-endian int32s, then uint8 pixels) under a *data
root*. The root is found, in this order, from

1. the ``data_root`` argument,
2. the environment variable ``SKAL_DATA_ROOT``,
3. ``../shared/data`` next to the current working directory,
4. ``../shared/data`` next to the checkout that holds this package.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

__all__ = ["DATASETS", "image_folder", "load_dataset", "read_idx", "resolve_data_root", "write_image_folder"]

#: Names accepted by :func:`load_dataset`.
DATASETS = ("digits", "mnist", "fashion-mnist")

DATA_ROOT_ENV = "SKAL_DATA_ROOT"

_IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# Sub-folders tried under the root, so the original layout, torchvision's
# ``<root>/MNIST/raw`` layout and a root pointing at the folder itself work.
_SUBDIRS = {
    "mnist": ("mnist", "MNIST/raw", "."),
    # No "." here: a root pointing at an MNIST folder must not pass for
    # Fashion-MNIST, whose files have the same names.
    "fashion-mnist": ("fashion-mnist", "fashion_mnist", "FashionMNIST/raw"),
}

# numpy dtypes of the IDX type codes (third byte of the magic number).
_IDX_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _default_roots():
    roots = [Path.cwd().parent / "shared" / "data"]
    # skal/datasets.py -> skal/ -> checkout/ ; the shared data sits beside it.
    checkout = Path(__file__).resolve().parent.parent
    roots.append(checkout.parent / "shared" / "data")
    unique = []
    for root in roots:
        if root not in unique:
            unique.append(root)
    return unique


def resolve_data_root(data_root=None):
    """Return the data roots to search, most specific first.

    Parameters
    ----------
    data_root : str or path-like, default=None
        An explicit root. When None, the environment variable
        ``SKAL_DATA_ROOT`` is used if set, else ``../shared/data`` relative
        to the working directory and to the checkout holding skal.

    Returns
    -------
    roots : list of pathlib.Path
        The candidate roots (only the explicit one when given).

    Examples
    --------
    >>> from skal.datasets import resolve_data_root
    >>> resolve_data_root("/tmp/data")
    [PosixPath('/tmp/data')]
    """
    if data_root is not None:
        return [Path(data_root).expanduser()]
    env = os.environ.get(DATA_ROOT_ENV)
    if env:
        return [Path(env).expanduser()]
    return _default_roots()


def read_idx(path):
    """Read one IDX file (gzipped or not) into a numpy array.

    Parameters
    ----------
    path : str or path-like
        File in the IDX format of LeCun's MNIST distribution; a name ending
        in ``.gz`` is decompressed on the fly.

    Returns
    -------
    array : ndarray
        With the shape and dtype given by the file's header.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {data[:4]!r}).")
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    ndim = data[3]
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">i4", count=ndim, offset=4))
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - offset != expected:
        raise ValueError(
            f"{path} is truncated or corrupt: header announces shape {shape} "
            f"({expected} bytes) but {len(data) - offset} bytes follow."
        )
    return np.frombuffer(data, dtype=dtype, offset=offset).reshape(shape).astype(
        dtype.newbyteorder("="), copy=True
    )


def _find_idx_folder(name, roots):
    for root in roots:
        for sub in _SUBDIRS[name]:
            folder = (root / sub).resolve() if sub != "." else root
            if all(_idx_path(folder, base) is not None for base in _IDX_FILES.values()):
                return folder
    return None


def _idx_path(folder, base):
    for candidate in (folder / f"{base}.gz", folder / base):
        if candidate.is_file():
            return candidate
    return None


def _missing_message(name, roots):
    lines = [f"The {name} files were not found."]
    wanted = ", ".join(f"{b}.gz" for b in _IDX_FILES.values())
    lines.append(f"Needed: {wanted}.")
    for root in roots:
        tried = [str(root / sub) if sub != "." else str(root) for sub in _SUBDIRS[name]]
        missing = []
        folder = root / _SUBDIRS[name][0]
        for base in _IDX_FILES.values():
            if _idx_path(folder, base) is None:
                missing.append(f"{base}.gz")
        lines.append(
            f"Searched root {root} (folders: {', '.join(tried)}); "
            f"missing in {folder}: {', '.join(missing)}."
        )
    lines.append(
        "Put the original gzipped IDX files in <root>/"
        f"{_SUBDIRS[name][0]}/ and pass data_root=<root> (CLI: --data-root <root>) "
        f"or set the environment variable {DATA_ROOT_ENV}=<root>."
    )
    return " ".join(lines)


def _load_idx_dataset(name, data_root):
    roots = resolve_data_root(data_root)
    folder = _find_idx_folder(name, roots)
    if folder is None:
        raise FileNotFoundError(_missing_message(name, roots))
    arrays = {key: read_idx(_idx_path(folder, base)) for key, base in _IDX_FILES.items()}
    for split in ("train", "test"):
        n_img, n_lab = len(arrays[f"{split}_images"]), len(arrays[f"{split}_labels"])
        if n_img != n_lab:
            raise ValueError(
                f"{name} {split} split in {folder} has {n_img} images but {n_lab} labels."
            )
    return arrays, folder


def load_dataset(name, data_root=None, *, flatten=None, test_size=0.3, random_state=0):
    """Load a classification data set as float32 arrays in [0, 1].

    Parameters
    ----------
    name : {"digits", "mnist", "fashion-mnist"}
        ``digits`` is scikit-learn's 8x8 digits (1,797 images, no official
        test split: a stratified ``test_size`` hold-out is made);
        ``mnist`` and ``fashion-mnist`` use their official 60,000 / 10,000
        split, read from the gzipped IDX files under the data root.
    data_root : str or path-like, default=None
        Folder holding ``mnist/`` or ``fashion-mnist/`` with the four
        original ``*-ubyte.gz`` files (torchvision's ``MNIST/raw`` layout
        works too). None: ``$SKAL_DATA_ROOT``, else ``../shared/data`` next
        to the working directory or to the checkout. Ignored for digits.
    flatten : bool, default=None
        True gives ``X`` of shape ``(n, n_pixels)``, False images of shape
        ``(n, 1, height, width)`` (what a CNN takes). None picks the
        data set's natural form: flat for digits (a tabular data set in
        scikit-learn), images for MNIST and Fashion-MNIST.
    test_size : float, default=0.3
        Hold-out fraction for digits only.
    random_state : int, default=0
        Seed of the digits hold-out split.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``X_train``, ``y_train``, ``X_test``, ``y_test`` (X float32 in
        [0, 1], y int64), ``classes``, ``image_shape`` (``(1, h, w)``) and
        ``name``.

    Raises
    ------
    FileNotFoundError
        When the IDX files are not under any searched root; the message
        names the missing files, the roots searched and how to set the root.

    Examples
    --------
    >>> from skal.datasets import load_dataset
    >>> data = load_dataset("digits")
    >>> data.X_train.shape, data.X_test.shape, float(data.X_train.max())
    ((1257, 64), (540, 64), 1.0)
    >>> load_dataset("digits", flatten=False).X_train.shape
    (1257, 1, 8, 8)
    """
    if not isinstance(name, str) or name.lower() not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")
    name = name.lower()
    if name == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        digits = load_digits()
        images = (digits.images / 16.0).astype(np.float32)[:, None]
        X_train, X_test, y_train, y_test = train_test_split(
            images,
            digits.target.astype(np.int64),
            test_size=test_size,
            stratify=digits.target,
            random_state=random_state,
        )
        flat_default = True
    else:
        arrays, _ = _load_idx_dataset(name, data_root)
        X_train = (arrays["train_images"].astype(np.float32) / 255.0)[:, None]
        X_test = (arrays["test_images"].astype(np.float32) / 255.0)[:, None]
        y_train = arrays["train_labels"].astype(np.int64)
        y_test = arrays["test_labels"].astype(np.int64)
        flat_default = False
    image_shape = tuple(X_train.shape[1:])
    if flat_default if flatten is None else flatten:
        X_train = X_train.reshape(len(X_train), -1)
        X_test = X_test.reshape(len(X_test), -1)
    return Bunch(
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        classes=np.unique(np.concatenate([y_train, y_test])),
        image_shape=image_shape,
        name=name,
    )


def write_image_folder(name, output_dir, data_root=None, *, split="train", limit=None):
    """Write MNIST or Fashion-MNIST as PNG files, one folder per class (torchvision's layout).

    A pool of images on disk, for a ``torch.utils.data.Dataset`` pool that
    is decoded as it is scored (:func:`image_folder`). Files already there
    are kept, so a second call costs nothing.

    Parameters
    ----------
    name : {"mnist", "fashion-mnist"}
    output_dir : str or path-like
        ``<output_dir>/<class>/<index>.png`` are written.
    data_root : str or path-like, default=None
        Where the IDX files are (see :func:`load_dataset`).
    split : {"train", "test"}, default="train"
    limit : int, default=None
        Only the first ``limit`` images.

    Returns
    -------
    output_dir : pathlib.Path
    """
    from PIL import Image

    if name not in ("mnist", "fashion-mnist"):
        raise ValueError(f"write_image_folder writes 'mnist' or 'fashion-mnist', not {name!r}.")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    arrays, _ = _load_idx_dataset(name, data_root)
    images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    output_dir = Path(output_dir)
    for label in np.unique(labels):
        (output_dir / str(int(label))).mkdir(parents=True, exist_ok=True)
    width = len(str(len(images)))
    for i, (image, label) in enumerate(zip(images, labels)):
        path = output_dir / str(int(label)) / f"{i:0{width}d}.png"
        if not path.exists():
            Image.fromarray(image, mode="L").save(path)
    return output_dir


def image_folder(path):
    """An image-folder Dataset of grayscale images as (1, h, w) float tensors in [0, 1].

    torchvision's ``ImageFolder`` over ``<path>/<class>/*.png`` with the
    transforms that give skal's networks what :func:`load_dataset` gives
    them; its ``targets`` are the labels. Images are decoded when read, so a
    pool of any number of files costs no memory up front.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    dataset : torchvision.datasets.ImageFolder
    """
    from torchvision import datasets, transforms

    return datasets.ImageFolder(
        str(path), transform=transforms.Compose([transforms.Grayscale(), transforms.ToTensor()])
    )
