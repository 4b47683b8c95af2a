"""What skal's torch estimators share: device choice, RNG isolation, input and label checks."""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data
from torch.utils.data import DataLoader

__all__ = [
    "EvenBatchLoader",
    "InterruptibleFitMixin",
    "even_batch_size",
    "resolve_device",
    "isolated_rng",
    "validate_X",
    "first_fit_classes",
    "encode_labels",
    "check_logits",
]


def resolve_device(device):
    """``'auto'`` (or ``None``) becomes ``'cuda'`` when a GPU is present, else ``'cpu'``."""
    if device is None or (isinstance(device, str) and device == "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def isolated_rng(device):
    """Fork torch's RNG, so that seeding a fit or a prediction leaves the global state alone.

    Even prediction draws from it: every DataLoader iterator takes a base
    seed from the global generator.
    """
    devices = [torch.device(device)] if torch.device(device).type == "cuda" else []
    return torch.random.fork_rng(devices=devices)


def validate_X(estimator, X, y="no_validation", *, reset):
    """float32 samples of any shape; at predict time the per-sample shape must match fit's.

    ``n_features_in_`` (scikit-learn's check) only sees the second axis; for
    images the whole per-sample shape is stored as ``input_shape_``. With
    ``y`` given, returns ``(X, y)`` checked together, as ``validate_data`` does.
    """
    out = validate_data(
        estimator, X, y, reset=reset, dtype=np.float32, allow_nd=True, ensure_min_features=1
    )
    X = out if isinstance(y, str) and y == "no_validation" else out[0]
    if reset:
        estimator.input_shape_ = X.shape[1:]
    elif X.shape[1:] != estimator.input_shape_:
        raise ValueError(
            f"X has samples of shape {X.shape[1:]}, but {type(estimator).__name__} was "
            f"fitted on samples of shape {estimator.input_shape_}."
        )
    return out


def first_fit_classes(y, declared=None):
    """The labels a first fit sizes the network for: ``declared``, else those in ``y``.

    Examples
    --------
    >>> from skal.models._base import first_fit_classes
    >>> first_fit_classes(["b", "a", "b"])
    array(['a', 'b'], dtype='<U1')
    """
    check_classification_targets(y)
    labels = np.unique(y) if declared is None else np.unique(np.asarray(declared))
    if len(labels) < 2:
        raise ValueError(
            f"y contains 1 class only ({labels[0]!r}): a classifier needs samples of at "
            "least 2 classes; label samples of another class, or declare all labels "
            "with classes=..."
        )
    return labels


def encode_labels(y, classes):
    """Codes ``0..K-1`` of ``y`` under the sorted ``classes``.

    Examples
    --------
    >>> import numpy as np
    >>> from skal.models._base import encode_labels
    >>> encode_labels(np.array(["b", "a"]), np.array(["a", "b", "c"]))
    array([1, 0])
    """
    y = np.asarray(y)
    unseen = ~np.isin(y, classes)
    if unseen.any():
        raise ValueError(
            f"y contains labels {np.unique(y[unseen]).tolist()} not in classes_ "
            f"{np.asarray(classes).tolist()}: they were not declared at the first fit; "
            "declare every label up front with classes=..., or refit from scratch."
        )
    return np.searchsorted(classes, y).astype(np.int64)


def check_logits(out, n_classes):
    """The module must return ``(n_samples, n_classes)`` logits."""
    if isinstance(out, tuple):
        out = out[0]
    if out.dim() != 2 or out.shape[1] != n_classes:
        raise ValueError(
            f"module outputs shape {tuple(out.shape[1:])} per sample but there are "
            f"{n_classes} classes: the module must return (n_samples, {n_classes}) logits "
            f"(for a module class, e.g. module__n_classes={n_classes})."
        )


def even_batch_size(n_rows, batch_size):
    """A batch size that never leaves a last minibatch of one row.

    ``batch_size`` itself unless ``n_rows`` would end on a single row; then
    the smallest size that splits the rows into as many (or, if that is
    impossible, fewer) near-equal minibatches.

    Examples
    --------
    >>> from skal.models._base import even_batch_size
    >>> even_batch_size(129, 128)  # 65 + 64 instead of 128 + 1
    65
    >>> even_batch_size(300, 128)
    128
    """
    if batch_size is None or n_rows <= batch_size or n_rows % batch_size != 1:
        return batch_size
    for n_batches in range(math.ceil(n_rows / batch_size), 0, -1):
        size = math.ceil(n_rows / n_batches)
        if n_rows % size != 1:
            return size
    return n_rows  # pragma: no cover (n_batches = 1 always returns)


class EvenBatchLoader(DataLoader):
    """skorch's training iterator, whose epochs never end on a minibatch of one row.

    BatchNorm cannot normalise a single row in training mode, so 129 rows
    in batches of 128 would crash a network with BatchNorm. The batch size
    is adjusted by :func:`even_batch_size` for such a dataset only.
    """

    def __init__(self, dataset, batch_size=1, **kwargs):
        super().__init__(dataset, batch_size=even_batch_size(len(dataset), batch_size), **kwargs)


class InterruptibleFitMixin:
    """skorch's ``partial_fit``, minus its ``except KeyboardInterrupt: pass``.

    skorch keeps a half-trained net when training is interrupted. In an
    active-learning campaign that net would be recorded as the round's
    model; the interrupt has to reach the loop, which can then stop and
    resume the round later. Put the mixin before the skorch net class.
    """

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        if not self.initialized_:
            self.initialize()
        self.notify("on_train_begin", X=X, y=y)
        self.fit_loop(X, y, **fit_params)
        self.notify("on_train_end", X=X, y=y)
        return self
