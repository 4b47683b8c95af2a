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

import inspect
import numbers

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d
from skorch import NeuralNetClassifier
from skorch.dataset import unpack_data
from torch import nn

from ._base import (
    EvenBatchLoader,
    InterruptibleFitMixin,
    check_logits,
    encode_labels,
    first_fit_classes,
    isolated_rng,
    resolve_device,
    validate_X,
)
from ._embedding import skorch_embed
from ._modules import MLP

__all__ = ["MCDropoutClassifier"]

# Element-wise dropout masks every activation; the 1d/2d/3d variants mask
# whole channels (the mask has size 1 along the spatial dimensions).
_CHANNEL_DROPOUT = (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
_DROPOUT = (nn.Dropout,) + _CHANNEL_DROPOUT
_SEED_MAX = np.iinfo(np.int32).max


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


class MCDropoutClassifier(InterruptibleFitMixin, NeuralNetClassifier):
    """Monte-Carlo dropout classifier: a skorch net whose dropout stays on at prediction.

    A :class:`skorch.NeuralNetClassifier` trained with cross-entropy on the
    module's logits; at prediction every ``nn.Dropout`` layer samples
    ``n_samples`` masks, giving ``n_samples`` predictive distributions
    (Gal & Ghahramani 2016). Works as any scikit-learn classifier
    (``clone``, ``Pipeline``, ``GridSearchCV``) and, like ``MLPClassifier``,
    ``MCDropoutClassifier().fit(X, y)`` sizes its default network from the
    data.

    Parameters
    ----------
    module : nn.Module class, instance or None, default=None
        The network; it must return logits and contain at least one
        ``nn.Dropout`` (or ``Dropout1d/2d/3d``) *module* (``F.dropout``
        calls inside ``forward`` cannot be controlled). ``None`` means
        :class:`~skal.models.MLP` with ``dropout=0.5`` (also the default
        dropout when ``module=MLP`` is passed without ``module__dropout``).
        A class whose constructor takes ``n_features`` / ``n_classes`` gets
        them from the data at fit time unless given as ``module__...``.
    n_samples : int, default=20
        Number of MC dropout samples S used by :meth:`predict_proba` and
        :meth:`predict_proba_samples`.
    criterion : torch criterion class, default=nn.CrossEntropyLoss
    optimizer : torch optimizer class, default=torch.optim.Adam
    lr : float, default=1e-3
    max_epochs : int, default=50
    batch_size : int, default=64
        Training batch size, also the number of rows predicted at once
        (the layers after the first dropout see ``n_samples * batch_size``
        rows).
    train_split : callable or None, default=None
        skorch's internal validation split; off by default because
        active-learning label sets are small.
    classes : array-like or None, default=None
        All class labels, when ``y`` of the first fit may miss some.
    warm_start : bool, default=False
        Continue from the current weights when ``fit`` is called again.
    verbose : int, default=0
    device : str, default="auto"
        Torch device; ``"auto"`` is ``"cuda"`` when available, else ``"cpu"``.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling and training dropout (through
        a forked torch RNG, so the global torch RNG is untouched), and the
        prediction masks.
    **kwargs
        Any other skorch parameter (``module__hidden_units``,
        ``optimizer__weight_decay``, ``callbacks``, ``iterator_train__...``).
        Training batches are shuffled unless ``iterator_train__shuffle=False``.

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
        every call until the next fit.
    module_ : nn.Module
        The trained network.

    Notes
    -----
    :meth:`predict_proba` is the MC estimate of the predictive
    distribution, the mean of the ``n_samples`` samples, so that it agrees
    with ``predict_proba_samples(X).mean(0)`` on which skal's strategies
    compute their scores; skorch's deterministic "weight scaling"
    prediction (dropout off) is ``super().predict_proba`` / :meth:`embed`'s
    mode. See the module docstring for the consistent masks and the single
    evaluation of the layers before the first dropout.

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

    def __init__(
        self,
        module=None,
        *,
        n_samples=20,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        max_epochs=50,
        batch_size=64,
        train_split=None,
        classes=None,
        warm_start=False,
        verbose=0,
        device="auto",
        random_state=None,
        **kwargs,
    ):
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            classes=classes,
            warm_start=warm_start,
            verbose=verbose,
            device=device,
            iterator_train=kwargs.pop("iterator_train", EvenBatchLoader),
            **kwargs,
        )
        self.n_samples = n_samples
        self.random_state = random_state

    # skorch reads ``self.device`` in many places (module and tensor
    # placement, unpickling); resolving "auto" on access keeps the
    # parameter itself "auto" for get_params/clone.
    @property
    def device(self):
        return resolve_device(self.__dict__.get("device", "cpu"))

    @device.setter
    def device(self, value):
        self.__dict__["device"] = value

    def _get_param_names(self):
        # skorch lists every public-looking entry of __dict__, including its
        # private bookkeeping set ``_params_to_validate``; it is no parameter.
        return [k for k in super()._get_param_names() if not k.startswith("_")]

    def get_params(self, deep=True, **kwargs):
        params = super().get_params(deep=deep, **kwargs)
        if "device" in params:
            params["device"] = self.__dict__.get("device")
        return params

    def __setstate__(self, state):
        requested = state.get("device")
        state["device"] = resolve_device(requested)
        super().__setstate__(state)
        self.__dict__["device"] = requested

    @property
    def classes_(self):
        # Labels are encoded to 0..K-1 before skorch sees them; the real
        # labels live here (skorch's own property would report the codes).
        return self.classes_inferred_

    def get_params_for(self, prefix):
        params = super().get_params_for(prefix)
        if prefix == "iterator_train":
            params.setdefault("shuffle", True)
        return params

    def check_data(self, X, y):
        # Labels were validated and encoded in ``fit``.
        pass

    # ------------------------------------------------------------------ fit

    def initialize_module(self):
        kwargs = self.get_params_for("module")
        module = MLP if self.module is None else self.module
        if isinstance(module, nn.Module):
            self.module_ = self.initialized_instance(module, kwargs)
            return self
        if module is MLP:
            kwargs.setdefault("dropout", 0.5)
        sizes = {}
        if hasattr(self, "input_shape_"):
            sizes = {"n_features": int(np.prod(self.input_shape_)), "n_classes": len(self.classes_)}
        try:
            accepted = inspect.signature(module).parameters
        except (TypeError, ValueError):
            accepted = {}
        for name in ("n_features", "n_classes"):
            if name in accepted and name not in kwargs:
                if name not in sizes:
                    if accepted[name].default is not inspect.Parameter.empty:
                        continue
                    raise ValueError(
                        f"{getattr(module, '__name__', module)} needs {name}: call fit, which "
                        f"sizes the module from the data, or pass module__{name}=..."
                    )
                kwargs[name] = sizes[name]
        self.module_ = module(**kwargs)
        return self

    def _validate_params_mc(self):
        if not isinstance(self.n_samples, numbers.Integral) or self.n_samples < 1:
            raise ValueError(
                f"n_samples must be a positive integer, got {self.n_samples!r}."
            )

    def _encode_labels(self, y, *, reset, classes=None):
        y = column_or_1d(y, warn=True)
        if reset:
            self.classes_inferred_ = first_fit_classes(y, self.classes if classes is None else classes)
        else:
            check_classification_targets(y)
        return encode_labels(y, self.classes_)

    def fit(self, X, y, **fit_params):
        """Initialise (unless ``warm_start``) and train the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, \\*input_shape)
        y : array-like of shape (n_samples,)
            Class labels of any type.
        **fit_params
            Passed to skorch (module ``forward`` and ``train_split``).

        Returns
        -------
        self : MCDropoutClassifier
        """
        reset = not (self.warm_start and self.initialized_ and hasattr(self, "dropout_seed_"))
        return self._fit(X, y, reset=reset, classes=None, fit_params=fit_params)

    def partial_fit(self, X, y, classes=None, **fit_params):
        """Train for ``max_epochs`` more epochs from the current weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, \\*input_shape)
        y : array-like of shape (n_samples,)
        classes : array-like or None, default=None
            All labels; used on the first call only (as in scikit-learn).
        **fit_params
            Passed to skorch.

        Returns
        -------
        self : MCDropoutClassifier
        """
        reset = not (self.initialized_ and hasattr(self, "dropout_seed_"))
        return self._fit(X, y, reset=reset, classes=classes, fit_params=fit_params)

    def _fit(self, X, y, *, reset, classes, fit_params):
        self._validate_params_mc()
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        X = validate_X(self, X, reset=reset)
        y_codes = self._encode_labels(y, reset=reset, classes=classes)
        rng = check_random_state(self.random_state)
        train_seed = int(rng.randint(_SEED_MAX))
        with isolated_rng(self.device):
            torch.manual_seed(train_seed)
            if reset:
                self.initialize()
                self._check_module(X)
                self.dropout_seed_ = int(rng.randint(_SEED_MAX))
            super().partial_fit(X, y_codes, **fit_params)
        return self

    def _check_module(self, X):
        dropouts = [m for m in self.module_.modules() if isinstance(m, _DROPOUT)]
        if not any(m.p > 0 for m in dropouts):
            raise ValueError(
                f"module {type(self.module_).__name__} has no nn.Dropout layer with p > 0, so "
                "MC dropout would return identical samples: add dropout modules (for skal's "
                "MLP pass module__dropout=0.5)."
            )
        self.module_.eval()
        with torch.no_grad():
            out = self.infer(torch.as_tensor(X[:2]))
        check_logits(out, len(self.classes_))

    # ----------------------------------------------------------- prediction

    def _logits(self, Xi):
        out = self.infer(Xi)
        return out[0] if isinstance(out, tuple) else out

    def _sample_batch(self, Xi, hooks, n_samples):
        """Logits of shape (S, b, K) for one batch, dropout masks applied."""
        b = len(Xi)
        if hooks.tile:
            hooks.begin_pass()
            try:
                logits = self._logits(Xi)
            except RuntimeError:  # includes _TilingFailed and shape mismatches
                logits = None
            if logits is not None and hooks._tiled_rows == b and logits.shape[0] == n_samples * b:
                return logits.reshape((n_samples, b) + tuple(logits.shape[1:]))
            # The forward cannot carry S copies: sample with full passes.
            hooks.tile = False
        passes = []
        for s in range(n_samples):
            hooks.sample = s
            passes.append(self._logits(Xi))
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
            Probabilities, columns in the order of ``classes_``.
        """
        check_is_fitted(self, "dropout_seed_")
        S = self.n_samples if n_samples is None else n_samples
        if not isinstance(S, numbers.Integral) or S < 1:
            raise ValueError(f"n_samples must be a positive integer, got {S!r}.")
        seed = (
            self.dropout_seed_ if random_state is None
            else int(check_random_state(random_state).randint(_SEED_MAX))
        )
        X = validate_X(self, X, reset=False)
        dropouts = [m for m in self.module_.modules() if isinstance(m, _DROPOUT)]
        hooks = _ConsistentMasks(int(S), seed, self.device)
        handles = [m.register_forward_hook(hooks.hook(i)) for i, m in enumerate(dropouts)]
        chunks = []
        try:
            self._set_training(False)
            with torch.no_grad(), isolated_rng(self.device):
                for batch in self.get_iterator(self.get_dataset(X), training=False):
                    Xi, _ = unpack_data(batch)
                    logits = self._sample_batch(Xi, hooks, int(S))
                    chunks.append(torch.softmax(logits.double(), dim=-1).cpu())
        finally:
            for handle in handles:
                handle.remove()
        return torch.cat(chunks, dim=1).numpy()

    def predict_proba(self, X):
        """MC estimate of the predictive distribution: the mean of the samples.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, \\*input_shape)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return self.predict_proba_samples(X).mean(axis=0)

    def predict(self, X):
        """Class of highest MC-averaged probability.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, \\*input_shape)

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        codes = self.predict_proba(X).argmax(axis=1)
        return self.classes_[codes]

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
        with isolated_rng(self.device):
            return skorch_embed(self, X)
