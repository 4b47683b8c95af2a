"""Tabular rows as images: features placed on a pixel grid by their similarity.

DeepInsight (Sharma et al. 2019) treats the *features* of a table as points,
embeds them in 2-D so that features that behave alike (correlate over the
training rows) land near each other, and then draws every row as an image
whose pixel at a feature's place holds that feature's value. A CNN can then
use what is local in the layout. Here:

1. each feature is its column of the training rows, centred and scaled to
   unit norm, so that the distance of two features is
   ``sqrt(2 (1 - corr))``;
2. the features are embedded in 2-D by kernel PCA (an RBF kernel on those
   distances, its width the median distance) or by t-SNE;
3. the embedding is turned to its principal axes and stretched onto the
   ``H x W`` grid, and every feature gets a pixel of its own by an optimal
   assignment (the Hungarian algorithm on the squared distance from a
   feature's point to a pixel's centre), so no two features collide.

Pixels without a feature stay 0 (a centred feature's mean, after a
``StandardScaler``).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from .._validation import check_scalar

__all__ = ["TabularToImage"]

_METHODS = ("kpca", "tsne")


def _feature_distances(X):
    """Squared distances ``2 (1 - corr)`` between the columns of X; constant columns are far from all."""
    Z = X - X.mean(axis=0)
    norms = np.linalg.norm(Z, axis=0)
    Z = np.divide(Z, norms, out=np.zeros_like(Z), where=norms > 0)
    corr = np.clip(Z.T @ Z, -1.0, 1.0)
    d2 = 2.0 * (1.0 - corr)
    np.fill_diagonal(d2, 0.0)
    return d2


def _embed(d2, method, random_state):
    """2-D points of the features from their squared distances."""
    n = len(d2)
    if n < 3:  # nothing to learn: a row
        return np.column_stack([np.arange(n, dtype=float), np.zeros(n)])
    if method == "kpca":
        from sklearn.decomposition import KernelPCA

        off = d2[~np.eye(n, dtype=bool)]
        scale = np.median(off[off > 0]) if (off > 0).any() else 1.0
        kernel = np.exp(-d2 / scale)
        return KernelPCA(n_components=2, kernel="precomputed", eigen_solver="dense").fit_transform(kernel)
    from sklearn.manifold import TSNE

    perplexity = min(30.0, max(1.0, (n - 1) / 3))
    tsne = TSNE(n_components=2, metric="precomputed", init="random", perplexity=perplexity,
                random_state=random_state)
    return tsne.fit_transform(np.sqrt(np.maximum(d2, 0.0)))


def _onto_grid(points, height, width):
    """Points turned to their principal axes (the longer along the width) and stretched onto the grid."""
    centred = points - points.mean(axis=0)
    if np.ptp(centred, axis=0).max() > 0:
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        centred = centred @ vt.T
        # a sign convention, so the picture does not flip with the solver
        centred *= np.where(np.abs(centred).max(axis=0) == centred.max(axis=0), 1.0, -1.0)
    if height > width:
        centred = centred[:, ::-1]
    span = np.ptp(centred, axis=0)
    unit = np.divide(centred - centred.min(axis=0), span, out=np.full_like(centred, 0.5),
                     where=span > 0)
    # (x, y) in [0, 1] -> (row, col) in pixel units
    return np.column_stack([unit[:, 1] * (height - 1), unit[:, 0] * (width - 1)])


def _assign_pixels(coords, height, width):
    """Each feature its own pixel, minimising the total squared distance moved."""
    rows, cols = np.divmod(np.arange(height * width), width)
    cost = (coords[:, :1] - rows[None]) ** 2 + (coords[:, 1:] - cols[None]) ** 2
    features, pixels = linear_sum_assignment(cost)
    positions = np.empty((len(coords), 2), dtype=np.intp)
    positions[features] = np.column_stack([rows[pixels], cols[pixels]])
    return positions


class TabularToImage(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Lay tabular features out on a pixel grid learned from the data: one image per row.

    The features are embedded in 2-D by their correlations over the
    training rows (DeepInsight's kernel PCA or t-SNE of the feature
    columns), the embedding is stretched onto an ``H x W`` grid and each
    feature gets a pixel of its own (an optimal assignment resolves
    collisions). ``transform`` writes each row's values at its features'
    pixels; the other pixels are 0. See :mod:`skal.preprocessing._tabular_to_image`.

    Parameters
    ----------
    method : {"kpca", "tsne"}, default="kpca"
        The 2-D embedding of the features: kernel PCA (RBF kernel on the
        correlation distance, deterministic) or t-SNE (seeded by
        ``random_state``).
    image_size : int, (int, int) or None, default=None
        ``H = W = image_size``, or ``(H, W)``; None is the smallest square
        with a pixel per feature. ``H * W`` must be at least the number of
        features.
    random_state : int, RandomState instance or None, default=None
        Seeds t-SNE (kernel PCA draws nothing).

    Attributes
    ----------
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined when X has string column names.
    image_shape_ : tuple (1, H, W)
        Shape of one output image.
    positions_ : ndarray of shape (n_features_in_, 2)
        ``(row, column)`` of each feature's pixel.
    embedding_ : ndarray of shape (n_features_in_, 2)
        Where each feature's point fell on the grid, in pixel units
        ``(row, column)``, before the pixels were assigned.

    See Also
    --------
    skal.models.SmallCNN : a CNN for the images, e.g. in
        ``make_pipeline(StandardScaler(), TabularToImage(), DeepProbabilisticEnsemble(module=SmallCNN))``.

    References
    ----------
    A. Sharma, E. Vans, D. Shigemizu, K. A. Boroevich, T. Tsunoda.
    DeepInsight: A methodology to transform a non-image data to an image
    for convolution neural network architecture. Scientific Reports 9, 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from skal.preprocessing import TabularToImage
    >>> rng = np.random.RandomState(0)
    >>> base = rng.randn(100, 3)
    >>> X = np.hstack([base, base + 0.1 * rng.randn(100, 3)])  # 3 pairs of twins
    >>> tti = TabularToImage().fit(X)
    >>> tti.transform(X).shape
    (100, 1, 3, 3)
    >>> tti.get_feature_names_out().reshape(3, 3).shape
    (3, 3)
    """

    def __init__(self, method="kpca", image_size=None, random_state=None):
        self.method = method
        self.image_size = image_size
        self.random_state = random_state

    def _grid_shape(self, n_features):
        size = self.image_size
        if size is None:  # the smallest square with a pixel per feature
            side = math.isqrt(n_features - 1) + 1
            return side, side
        if isinstance(size, numbers.Integral) and not isinstance(size, bool):
            size = (size, size)
        if not (isinstance(size, (tuple, list)) and len(size) == 2):
            raise TypeError(f"image_size must be None, an int or a pair (H, W); got {size!r}.")
        height, width = (check_scalar(s, "image_size", numbers.Integral, min_val=1) for s in size)
        if height * width < n_features:
            raise ValueError(
                f"image_size={self.image_size!r} gives {height * width} pixels for {n_features} "
                f"features: every feature needs a pixel; use image_size=None (the smallest "
                f"square, {math.isqrt(n_features - 1) + 1}) or a larger size."
            )
        return height, width

    def fit(self, X, y=None):
        """Learn the feature layout from the columns of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            At least 2 rows (correlations need them).
        y : None
            Ignored.

        Returns
        -------
        self
        """
        if self.method not in _METHODS:
            raise ValueError(f"method must be one of {', '.join(_METHODS)}; got {self.method!r}.")
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        height, width = self._grid_shape(X.shape[1])
        d2 = _feature_distances(np.asarray(X, dtype=np.float64))
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        self.embedding_ = _onto_grid(_embed(d2, self.method, seed), height, width)
        self.positions_ = _assign_pixels(self.embedding_, height, width)
        self.image_shape_ = (1, height, width)
        return self

    def transform(self, X):
        """Each row as an image: its features' values at their pixels, 0 elsewhere.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features_in_)

        Returns
        -------
        images : ndarray of shape (n_samples, 1, H, W)
            Of X's float dtype (float32 stays float32).
        """
        check_is_fitted(self, "positions_")
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        images = np.zeros((len(X),) + self.image_shape_, dtype=X.dtype)
        images[:, 0, self.positions_[:, 0], self.positions_[:, 1]] = X
        return images

    def get_feature_names_out(self, input_features=None):
        """Names of the output pixels, row-major: the feature at each pixel, or ``empty_<row>_<col>``.

        ``names.reshape(H, W)`` shows the layout.

        Parameters
        ----------
        input_features : array-like of str, default=None
            Names of the input features; None uses ``feature_names_in_`` or
            ``x0, x1, ...``.

        Returns
        -------
        names : ndarray of str of shape (H * W,)
        """
        check_is_fitted(self, "positions_")
        names = self._input_names(input_features)
        _, height, width = self.image_shape_
        grid = np.array([f"empty_{r}_{c}" for r in range(height) for c in range(width)], dtype=object)
        grid[self.positions_[:, 0] * width + self.positions_[:, 1]] = names
        return grid

    def _input_names(self, input_features):
        if input_features is None:
            fitted = getattr(self, "feature_names_in_", None)
            if fitted is not None:
                return np.asarray(fitted, dtype=object)
            return np.array([f"x{i}" for i in range(self.n_features_in_)], dtype=object)
        names = np.asarray(input_features, dtype=object)
        if names.shape != (self.n_features_in_,):
            raise ValueError(
                f"input_features should have length n_features_in_={self.n_features_in_}, "
                f"got {len(names)}."
            )
        fitted = getattr(self, "feature_names_in_", None)
        if fitted is not None and not np.array_equal(fitted, names):
            raise ValueError("input_features is not equal to feature_names_in_.")
        return names

    def plot_layout(self, ax=None, *, input_features=None, fontsize=7):
        """Draw the grid with each feature's name at its pixel.

        Drawn on a :class:`matplotlib.figure.Figure` with the Agg canvas
        when no axes are given (no display needed, pyplot untouched).

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        input_features : array-like of str, default=None
            Names to write; None as :meth:`get_feature_names_out`.
        fontsize : float, default=7

        Returns
        -------
        ax : matplotlib Axes
        """
        check_is_fitted(self, "positions_")
        names = self._input_names(input_features)
        _, height, width = self.image_shape_
        if ax is None:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure

            # wide cells: a feature name is longer than a pixel is tall
            fig = Figure(figsize=(max(4.0, 1.3 * width), max(3.0, 0.8 * height + 0.6)),
                         layout="constrained")
            FigureCanvasAgg(fig)
            ax = fig.add_subplot()
        occupied = np.zeros((height, width))
        occupied[self.positions_[:, 0], self.positions_[:, 1]] = 1
        ax.imshow(occupied, cmap="Greys", vmin=0, vmax=4, aspect="auto")
        for (row, col), name in zip(self.positions_, names):
            ax.text(col, row, str(name), ha="center", va="center", fontsize=fontsize)
        ax.set_xticks(range(width))
        ax.set_yticks(range(height))
        ax.set_title(f"TabularToImage layout ({self.method}), {len(names)} features on {height}x{width}",
                     fontsize=9)
        return ax

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.non_deterministic = self.method == "tsne" and self.random_state is None
        return tags
