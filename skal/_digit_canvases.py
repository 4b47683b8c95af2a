"""A segmentation data set that runs offline: handwritten digits pasted on canvases.

Each canvas is split into a grid of cells as large as a digit allows;
an image gets 1 to ``max_digits`` digits, each in its own cell at a random
offset, so digits never overlap and every pixel has one true label:
0 for background, ``d + 1`` for a pixel of digit ``d`` (its intensity at
least ``threshold``). Everything random comes from ``random_state``.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import Bunch, check_random_state

from ._validation import check_scalar

__all__ = ["CLASS_NAMES", "make_digit_segmentation"]

#: Names of the labels 0..10 of the label maps.
CLASS_NAMES = ("background",) + tuple(str(d) for d in range(10))


def _resize(digits, size):
    """Digits ``(n, h, w)`` in [0, 1] resized to ``(n, size, size)`` by area averaging."""
    if digits.shape[1:] == (size, size):
        return digits.astype(np.float32, copy=True)
    import torch
    import torch.nn.functional as F

    # "area" is adaptive average pooling: deterministic, exact block means
    # when the size divides the digit's.
    out = F.interpolate(torch.from_numpy(np.ascontiguousarray(digits, dtype=np.float32))[:, None],
                        size=(size, size), mode="area")
    return out[:, 0].numpy()


def make_digit_segmentation(
    digits,
    labels,
    n_samples,
    *,
    canvas_size=64,
    digit_size=28,
    max_digits=3,
    threshold=0.5,
    random_state=None,
):
    """Paste digits on blank canvases: images and their per-pixel label maps.

    Parameters
    ----------
    digits : array-like of shape (n_digits, h, w)
        Source digit images with values in [0, 1] (MNIST's, divided by 255).
        Never modified.
    labels : array-like of shape (n_digits,)
        Their classes, integers 0 to 9.
    n_samples : int
        Canvases to make.
    canvas_size : int, default=64
        Height and width of a canvas.
    digit_size : int, default=28
        Side of a pasted digit (resized by area averaging when it differs
        from the source's); the canvas holds
        ``(canvas_size // digit_size) ** 2`` cells.
    max_digits : int, default=3
        Each canvas gets 1 to ``max_digits`` digits (uniformly), at most one
        per cell.
    threshold : float, default=0.5
        A digit's pixel is labeled with its class when its intensity is at
        least this, background otherwise.
    random_state : int, RandomState instance or None, default=None
        Drives which digits, how many, which cells and the offsets.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``X`` (n_samples, 1, canvas_size, canvas_size) float32 in [0, 1];
        ``y`` (n_samples, canvas_size, canvas_size) int64 label maps, 0 the
        background and ``d + 1`` digit ``d``; ``placements``, a structured
        array with one row per pasted digit: ``image``, ``source`` (row of
        ``digits``), ``top``, ``left``, ``digit``; ``class_names``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from skal.datasets import make_digit_segmentation
    >>> d = load_digits()
    >>> data = make_digit_segmentation(d.images / 16, d.target, 5, canvas_size=16,
    ...                                digit_size=8, random_state=0)
    >>> data.X.shape, data.y.shape, int(data.y.max()) <= 10
    ((5, 1, 16, 16), (5, 16, 16), True)
    """
    digits = np.asarray(digits)
    labels = np.asarray(labels)
    if digits.ndim != 3 or len(digits) == 0:
        raise ValueError(f"digits must be a non-empty array of shape (n_digits, h, w), got {digits.shape}.")
    if labels.shape != (len(digits),):
        raise ValueError(f"labels must have shape ({len(digits)},), one per digit; got {labels.shape}.")
    if not np.isin(labels, np.arange(10)).all():
        raise ValueError("labels must be digit classes, integers from 0 to 9.")
    if digits.min() < 0 or digits.max() > 1:
        raise ValueError("digits must hold intensities in [0, 1]; divide MNIST's uint8 pixels by 255.")
    n_samples = check_scalar(n_samples, "n_samples", numbers.Integral, min_val=1)
    canvas_size = check_scalar(canvas_size, "canvas_size", numbers.Integral, min_val=1)
    digit_size = check_scalar(
        digit_size, "digit_size", numbers.Integral, min_val=1, max_val=canvas_size,
        hint="A digit must fit on the canvas.",
    )
    grid = canvas_size // digit_size
    max_digits = check_scalar(
        max_digits, "max_digits", numbers.Integral, min_val=1, max_val=grid * grid,
        hint=f"A {canvas_size}x{canvas_size} canvas has {grid * grid} cells of {digit_size} pixels.",
    )
    threshold = check_scalar(threshold, "threshold", numbers.Real, min_val=0, max_val=1,
                             include_boundaries="right")
    rng = check_random_state(random_state)

    counts = rng.randint(1, max_digits + 1, size=n_samples)
    total = int(counts.sum())
    sources = rng.choice(len(digits), size=total, replace=total > len(digits))
    resized = _resize(digits[sources], digit_size)
    cell = canvas_size // grid
    slack = cell - digit_size
    X = np.zeros((n_samples, 1, canvas_size, canvas_size), dtype=np.float32)
    y = np.zeros((n_samples, canvas_size, canvas_size), dtype=np.int64)
    placements = np.zeros(
        total, dtype=[("image", np.int64), ("source", np.int64), ("top", np.int64),
                      ("left", np.int64), ("digit", np.int64)]
    )
    k = 0
    for i, count in enumerate(counts):
        for c in rng.choice(grid * grid, size=count, replace=False):
            top = (c // grid) * cell + rng.randint(slack + 1)
            left = (c % grid) * cell + rng.randint(slack + 1)
            patch = resized[k]
            window = (slice(top, top + digit_size), slice(left, left + digit_size))
            X[i, 0][window] = patch
            y[i][window] = np.where(patch >= threshold, labels[sources[k]] + 1, 0)
            placements[k] = (i, sources[k], top, left, labels[sources[k]])
            k += 1
    return Bunch(X=X, y=y, placements=placements, class_names=list(CLASS_NAMES))
