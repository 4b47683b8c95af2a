"""Monte-Carlo dropout (Gal & Ghahramani 2016) as a scikit-learn classifier.

Dropout stays on at prediction and S stochastic passes give S predictive
samples ``p_s(y|x)``. Two choices shape this implementation:

* **Consistent masks.** Sample ``s`` uses the same dropout mask for every
  input row (one mask per sample and dropout layer, broadcast over the
  batch), i.e. sample ``s`` is one network drawn from the dropout
  posterior. Predictions of a row do not depend on the other rows of the
  batch, on the batch size or on the call (the masks are seeded from
  ``dropout_seed_``, drawn at fit time), which is what batch-aware
  strategies such as BatchBALD need (Kirsch et al. 2019, "consistent MC
  dropout") and what lets a pool be scored in chunks.
* **The deterministic prefix runs once.** Layers before the first dropout
  do not depend on the masks: the first dropout layer tiles its input S
  times (``(b, ...) -> (S*b, ...)``) and only the layers after it run on the
  S copies. Modules whose forward cannot take the tiled batch (e.g. a
  residual connection that skips over a dropout) fall back to S full
  passes with the same masks, so both paths give the same samples.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNetClassifier
from torch import nn

from .._docstrings import fill_sections
from .._validation import check_scalar
from ._base import (
    PARAMETER_DOCS,
    SEED_MAX,
    _BaseDeepClassifier,
    isolated_rng,
    validate_X,
)
from ._embedding import skorch_embed

__all__ = ["MCDropoutClassifier"]

# Element-wise dropout masks every activation; the 1d/2d/3d variants mask
# whole channels (the mask has size 1 along the spatial dimensions).
_CHANNEL_DROPOUT = (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
_DROPOUT = (nn.Dropout,) + _CHANNEL_DROPOUT


class _TilingFailed(RuntimeError):
    """The module's forward cannot carry the S-times tiled batch."""


class _ConsistentMasks:
    """Forward hooks applying S fixed dropout masks to a module in eval mode.

    In eval mode ``nn.Dropout`` is the identity; the hooks multiply its
    output by the mask of each sample (scaled by ``1 / (1 - p)`` as in
    training). ``tile=True`` makes the first dropout layer reached in a
    forward pass expand the batch to S copies; ``sample`` selects a single
    mask for one full pass instead.
    """

    def __init__(self, n_samples, seed, device):
        self.n_samples = n_samples
        self.seed = seed
        self.device = device
        self.masks = {}
        self.tile = True
        self.sample = None
        self._tiled_rows = None

    def _mask(self, index, module, x):
        feature_shape = tuple(x.shape[1:])
        if isinstance(module, _CHANNEL_DROPOUT):
            feature_shape = feature_shape[:1] + (1,) * (len(feature_shape) - 1)
        key = (index, feature_shape)
        if key not in self.masks:
            keep = 1.0 - module.p
            masks = []
            for s in range(self.n_samples):
                # One generator per (layer, sample): sample s is the same
                # network whatever n_samples or the batch size.
                state = np.random.SeedSequence([self.seed, index, s]).generate_state(1)[0]
                gen = torch.Generator().manual_seed(int(state))
                masks.append(torch.bernoulli(torch.full(feature_shape, keep), generator=gen))
            scale = 1.0 / keep if keep > 0 else 0.0
            self.masks[key] = (torch.stack(masks) * scale).to(self.device)
        return self.masks[key].to(x.dtype)

    def begin_pass(self):
        self._tiled_rows = None

    def hook(self, index):
        def apply(module, args, output):
            mask = self._mask(index, module, output)
            if not self.tile:
                return output * mask[self.sample]
            S = self.n_samples
            if self._tiled_rows is None:
                # First dropout of this pass: everything before ran once.
                self._tiled_rows = output.shape[0]
                tiled = output.unsqueeze(0) * mask.unsqueeze(1)
                return tiled.reshape((S * output.shape[0],) + tuple(output.shape[1:]))
            b = self._tiled_rows
            if output.shape[0] != S * b:
                raise _TilingFailed(
                    f"a dropout layer received {output.shape[0]} rows, expected {S * b}"
                )
            tiled = output.reshape((S, b) + tuple(output.shape[1:])) * mask.unsqueeze(1)
            return tiled.reshape(output.shape)

        return apply


class MCDropoutClassifier(_BaseDeepClassifier):
    """Monte-Carlo dropout classifier: a network whose dropout stays on at prediction.

    The network is trained with ``criterion`` (cross-entropy on its logits)
    by a plain :class:`skorch.NeuralNetClassifier`, held in ``net_``, on
    the label codes ``0..K-1``; at prediction every ``nn.Dropout`` layer
    samples ``n_samples`` masks, giving ``n_samples`` predictive
    distributions (Gal & Ghahramani 2016). Works as any scikit-learn
    classifier (``clone``, ``Pipeline``, ``GridSearchCV``) and, like
    ``MLPClassifier``, ``MCDropoutClassifier().fit(X, y)`` sizes its
    default network from the data.

    Parameters
    ----------
    {module}
        It must contain at least one ``nn.Dropout`` (or ``Dropout1d/2d/3d``)
        *module* with ``p > 0`` (``F.dropout`` calls inside ``forward``
        cannot be controlled). :class:`~skal.models.MLP` (the default)
        gets ``dropout=0.5`` unless ``module__dropout`` is given.
    n_samples : int, default=20
        Number of MC dropout samples S used by :meth:`predict_proba` and
        :meth:`predict_proba_samples`.
    criterion : torch criterion class, default=nn.CrossEntropyLoss
    {max_epochs}
    {lr}
    {optimizer}
    {batch_size}
        At prediction the layers after the first dropout see
        ``n_samples * batch_size`` rows.
    {train_split}
    {callbacks}
    {classes}
    {device}
    {random_state}
        Also seeds the prediction masks (``dropout_seed_``).
    {warm_start}
    {verbose}
    {kwargs}
        ``criterion__*`` parameters are passed through as well.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (any type), the column order of the probabilities.
    n_features_in_ : int
        ``X.shape[1]`` seen during fit.
    input_shape_ : tuple of int
        Shape of one sample (``X.shape[1:]``) seen during fit.
    dropout_seed_ : int
        Seed of the prediction masks: sample ``s`` is the same network in
        every call until the network is re-initialised.
    net_ : skorch.NeuralNetClassifier
        The skorch net that trains the module, on label codes ``0..K-1``:
        read ``net_.history`` for the losses (and ``valid_acc`` with a
        ``train_split``); ``net_.predict_proba`` is skorch's deterministic
        prediction (dropout off).
    module_ : nn.Module
        The trained network, ``net_.module_``.

    Notes
    -----
    :meth:`predict_proba` is the MC estimate of the predictive
    distribution, the mean of the ``n_samples`` samples, so that it agrees
    with ``predict_proba_samples(X).mean(0)`` on which skal's strategies
    compute their scores; the deterministic "weight scaling" prediction
    (dropout off) is ``net_.predict_proba`` / :meth:`embed`'s mode. See the
    module docstring for the consistent masks and the single evaluation of
    the layers before the first dropout.

    References
    ----------
    Gal, Y. & Ghahramani, Z. (2016). Dropout as a Bayesian approximation.
    ICML. Kirsch, A., van Amersfoort, J. & Gal, Y. (2019). BatchBALD.
    NeurIPS.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skal.models import MCDropoutClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MCDropoutClassifier(max_epochs=5, n_samples=8, random_state=0).fit(X, y)
    >>> clf.predict_proba_samples(X[:4]).shape
    (8, 4, 3)
    >>> clf.predict_proba(X[:4]).shape
    (4, 3)
    """

    _passthrough_prefixes = _BaseDeepClassifier._passthrough_prefixes + ("criterion__",)
    _mlp_params = {"dropout": 0.5}

    def __init__(
        self,
        module=None,
        *,
        n_samples=20,
        criterion=nn.CrossEntropyLoss,
        max_epochs=None,
        lr=None,
        optimizer=None,
        batch_size=None,
        train_split=None,
        callbacks=None,
        classes=None,
        device="auto",
        random_state=None,
        warm_start=False,
        verbose=0,
        **kwargs,
    ):
        self._store(locals())

    @property
    def module_(self):
        """The trained network (``net_.module_``)."""
        check_is_fitted(self, "net_")
        return self.net_.module_

    def _check_params(self):
        super()._check_params()
        check_scalar(self.n_samples, "n_samples", numbers.Integral, min_val=1)
        if not callable(self.criterion):
            raise TypeError(
                f"criterion must be a torch loss class such as nn.CrossEntropyLoss, got "
                f"{self.criterion!r}."
            )

    def _check_module(self, module, X, n_classes):
        if not any(m.p > 0 for m in module.modules() if isinstance(m, _DROPOUT)):
            raise ValueError(
                f"module {type(module).__name__} has no nn.Dropout layer with p > 0, so "
                "MC dropout would return identical samples: add dropout modules (for skal's "
                "MLP pass module__dropout=0.5)."
            )
        super()._check_module(module, X, n_classes)

    def _build_net(self, X, n_classes, device, seed):
        module = self._make_module(int(np.prod(X.shape[1:])), n_classes)
        self._check_module(module, X, n_classes)
        self.dropout_seed_ = int(np.random.RandomState(seed).randint(SEED_MAX))
        net = NeuralNetClassifier(
            module=module,
            criterion=self.criterion,
            classes=np.arange(n_classes),
            **self._net_params(device),
        )
        return net.initialize()

    # ----------------------------------------------------------- prediction

    def _logits(self, batch):
        out = self.net_.evaluation_step(batch, training=False)
        return out[0] if isinstance(out, tuple) else out

    def _sample_batch(self, batch, hooks, n_samples):
        """Logits of shape (S, b, K) for one batch, dropout masks applied."""
        b = len(batch[0])
        if hooks.tile:
            hooks.begin_pass()
            try:
                logits = self._logits(batch)
            except RuntimeError:  # includes _TilingFailed and shape mismatches
                logits = None
            if logits is not None and hooks._tiled_rows == b and logits.shape[0] == n_samples * b:
                return logits.reshape((n_samples, b) + tuple(logits.shape[1:]))
            # The forward cannot carry S copies: sample with full passes.
            hooks.tile = False
        passes = []
        for s in range(n_samples):
            hooks.sample = s
            passes.append(self._logits(batch))
        return torch.stack(passes)

    def predict_proba_samples(self, X, n_samples=None, random_state=None):
        """MC dropout samples of the class probabilities.

        The layers before the first dropout run once per batch; the rest
        runs on ``n_samples`` copies with one fixed dropout mask per sample
        (the same for every row).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, \\*input_shape)
        n_samples : int or None, default=None
            Number of samples S; ``None`` uses the ``n_samples`` parameter.
        random_state : int, RandomState instance or None, default=None
            Seed for fresh masks; ``None`` uses the masks fixed at fit time
            (``dropout_seed_``), so repeated calls and chunks of a pool
            share the same S networks.

        Returns
        -------
        samples : ndarray of shape (S, n_samples, n_classes)
            Probabilities, columns in the order of ``classes_``;
            ``(S, n_samples, n_classes, H, W)`` for a segmenter (fitted on
            label maps).
        """
        check_is_fitted(self, "dropout_seed_")
        S = check_scalar(
            self.n_samples if n_samples is None else n_samples, "n_samples", numbers.Integral, min_val=1
        )
        seed = (
            self.dropout_seed_ if random_state is None
            else int(check_random_state(random_state).randint(SEED_MAX))
        )
        X = validate_X(self, X, reset=False)
        net = self.net_
        dropouts = [m for m in net.module_.modules() if isinstance(m, _DROPOUT)]
        hooks = _ConsistentMasks(S, seed, net.device)
        handles = [m.register_forward_hook(hooks.hook(i)) for i, m in enumerate(dropouts)]
        chunks = []
        try:
            with isolated_rng(net.device):
                for batch in net.get_iterator(net.get_dataset(X), training=False):
                    logits = self._sample_batch(batch, hooks, S)
                    chunks.append(torch.softmax(logits.double(), dim=2).cpu())
        finally:
            for handle in handles:
                handle.remove()
        return torch.cat(chunks, dim=1).numpy()

    def embed(self, X):
        """Penultimate-layer features (dropout off).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, \\*input_shape)

        Returns
        -------
        phi : ndarray of shape (n_samples, d)
            The input of the module's ``head`` (or last ``nn.Linear``).
        """
        check_is_fitted(self, "dropout_seed_")
        X = validate_X(self, X, reset=False)
        with isolated_rng(self.net_.device):
            return skorch_embed(self.net_, X)


MCDropoutClassifier.__doc__ = fill_sections(MCDropoutClassifier.__doc__, PARAMETER_DOCS)
