"""Deep Probabilistic Ensemble (Chitta et al. 2018) and the plain deep ensemble."""

from __future__ import annotations

import copy
import hashlib
import inspect
import numbers

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import softmax
from sklearn.base import ClassifierMixin
from sklearn.ensemble import BaseEnsemble
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet, NeuralNetClassifier
from skorch.dataset import Dataset
from skorch.utils import to_tensor
from torch import nn
from torch.utils.data import Subset

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
from ._modules import MLP
from ._prior import PriorPenalty, prior_table, sample_from_prior
from ._stacked import StackedEnsemble

__all__ = ["DeepProbabilisticEnsemble", "DeepEnsemble", "row_digests"]

# Keyword arguments passed through to skorch, as skorch itself spells them.
PASSTHROUGH_PREFIXES = (
    "module__",
    "optimizer__",
    "iterator_train__",
    "iterator_valid__",
    "callbacks__",
)

_DEFAULTS = {"max_epochs": 100, "lr": 1e-3, "batch_size": 128, "optimizer": torch.optim.Adam}


def row_digests(X):
    """One 8-byte digest per row of ``X``: the same in every process, and picklable.

    Examples
    --------
    >>> import numpy as np
    >>> from skal.models._dpe import row_digests
    >>> len(row_digests(np.array([[0.0, 1.0], [0.0, 1.0], [2.0, 3.0]])))
    2
    """
    X = np.ascontiguousarray(X)
    return {hashlib.blake2b(row.tobytes(), digest_size=8).digest() for row in X}


def _training_rows(dataset, X):
    """The rows of ``X`` that a skorch training dataset holds."""
    if isinstance(dataset, Dataset) and dataset.X is X:
        return X
    if (
        isinstance(dataset, Subset)
        and isinstance(dataset.dataset, Dataset)
        and dataset.dataset.X is X
    ):
        return X[np.asarray(dataset.indices)]
    # any other dataset a train_split may return: read its rows
    return np.stack([np.asarray(dataset[i][0], dtype=X.dtype) for i in range(len(dataset))])


class _JointEnsembleNet(InterruptibleFitMixin, NeuralNetClassifier):
    """skorch net whose module is a :class:`StackedEnsemble` of E members.

    Three overrides make it a DPE: ``get_loss`` adds the prior penalty to
    the summed member cross-entropies, ``predict_proba`` averages the member
    softmaxes so that skorch's own scoring callbacks see the ensemble, and
    ``get_split_datasets`` (called once per ``partial_fit``, before the
    first minibatch) adds the digests of the training rows to
    ``train_rows_``: ``N_train`` is the number of distinct rows trained on
    since the net was built, not counting the validation rows of a
    ``train_split``.
    """

    def __init__(self, *args, beta=0.0, prior=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.beta = beta
        self.prior = prior
        self.train_rows_ = set()

    def get_split_datasets(self, X, y=None, **fit_params):
        dataset_train, dataset_valid = super().get_split_datasets(X, y, **fit_params)
        self.train_rows_ |= row_digests(_training_rows(dataset_train, X))
        return dataset_train, dataset_valid

    def get_loss(self, y_pred, y_true, X=None, training=False):
        y_true = to_tensor(y_true, device=self.device)
        n_members, batch, n_classes = y_pred.shape
        # mean over the batch, summed over members
        ce = n_members * F.cross_entropy(
            y_pred.reshape(n_members * batch, n_classes), y_true.repeat(n_members)
        )
        if not self.beta:
            return ce
        # Ω offset by its minimum: the same gradients, and a logged penalty
        # that reads as 2 KL(prior || ensemble) >= 0.
        penalty = self.prior(self.module_.params_dict())
        if training:
            self.history.record_batch("ce", ce.item())
            self.history.record_batch("omega", penalty.item())
        return ce + (self.beta / max(len(self.train_rows_), 1)) * penalty

    def predict_proba(self, X):
        probas = [
            torch.softmax(logits.double(), dim=-1).mean(0).numpy()
            for logits in self.forward_iter(X, training=False)
        ]
        return np.concatenate(probas, 0)


def _reset_parameters(module):
    for sub in module.modules():
        if hasattr(sub, "reset_parameters"):
            sub.reset_parameters()


class DeepProbabilisticEnsemble(ClassifierMixin, BaseEnsemble):
    """Deep Probabilistic Ensemble: E networks trained jointly towards a Gaussian prior.

    The E members are trained in **one** loop, vectorised with
    ``torch.func.vmap``, on::

        mean_batch sum_e CE(y, M_e(x)) + (beta / N_train) * Omega

    where Ω is KL(prior || ensemble) up to constants, computed from the mean
    and variance of every parameter *across the members*; the prior is He
    initialisation (see :mod:`skal.models._prior`). Members start from
    independent draws of that prior. ``beta=0`` gives a plain deep ensemble.

    ``N_train`` is the number of **distinct rows trained on since the
    members were (re)initialised** (``n_train_``): a fit that initialises
    starts the count afresh; ``partial_fit`` and ``warm_start`` fits add
    the rows not seen before, so teaching the new rows of a round weighs
    the prior as if training on all rows so far. With a ``train_split``
    only the rows of the training part count.

    Parameters
    ----------
    module : None, torch.nn.Module class or instance, or skorch NeuralNet, default=None
        The member architecture; it must return logits. ``None`` is an
        :class:`~skal.models.MLP` sized from the data. A class is
        instantiated with the ``module__*`` parameters, ``n_features`` and
        ``n_classes`` being filled from the data when its constructor takes
        them. A skorch net is copied: its module and ``module__*``
        parameters, and its ``optimizer``, ``lr``, ``max_epochs`` and
        ``batch_size`` where those are left to ``None`` here.
    n_estimators : int, default=8
        Number of members E (the paper uses 8; E <= 3 was unstable).
    beta : float, default=1.0
        Weight of the prior penalty. 0 trains independent members.
    max_epochs : int, default=None
        Epochs per ``fit`` (100 when ``None``).
    lr : float, default=None
        Learning rate (1e-3 when ``None``).
    optimizer : torch optimizer class, default=None
        ``torch.optim.Adam`` when ``None``.
    batch_size : int, default=None
        Minibatch size (128 when ``None``).
    train_split : None or callable, default=None
        skorch's validation split; ``None`` trains on all the data, which
        suits the small labeled sets of active learning.
    callbacks : list of skorch callbacks, default=None
        Extra skorch callbacks of the joint training loop, used as given
        (as skorch does), so that one recording training dynamics can be
        read after fit.
    classes : array-like, default=None
        All labels the model will ever see. Active learning often starts
        from a seed set that misses some classes: declaring them here sizes
        the output layer for all of them and lets ``warm_start`` go on when
        a new one is labeled.
    device : str, default='auto'
        Torch device; ``'auto'`` is CUDA when present, else CPU.
    random_state : int, RandomState or None, default=None
        Seeds the prior draws, the minibatch order and dropout masks.
    warm_start : bool, default=False
        ``fit`` continues from the current weights instead of redrawing them.
    vectorize : bool, default=True
        Run members with ``vmap`` (one forward/backward for all). ``False``
        loops over them, for modules that ``vmap`` cannot batch.
    verbose : int, default=0
        skorch's epoch log when > 0.
    **kwargs
        skorch pass-through parameters: ``module__*``, ``optimizer__*``,
        ``iterator_train__*``, ``iterator_valid__*``, ``callbacks__*``.

    Attributes
    ----------
    estimators_ : list of skorch.NeuralNetClassifier
        The E fitted members, usable on their own. Like the members of
        scikit-learn's forests they work on encoded labels
        ``0..K-1``: ``dpe.classes_[member.predict(X)]`` gives the labels.
    classes_ : ndarray of shape (K,)
    n_features_in_ : int
    net_ : skorch.NeuralNetClassifier
        The joint net, whose ``history`` holds the per-batch ``ce`` (summed
        over members) and ``omega`` (Ω minus its minimum, i.e.
        ``2 KL(prior || ensemble)``) of every fit.
    prior_ : dict
        Prior mean and variance of each regularised parameter.
    unregularised_params_ : list of str
        Parameters of layer types without a prior.
    n_train_ : int
        ``N_train`` of the last fit: distinct training rows since the
        members were initialised.

    See Also
    --------
    DeepEnsemble : the same members trained without the prior penalty.

    References
    ----------
    K. Chitta, J. M. Alvarez, A. Lesnikowski. Large-Scale Visual Active
    Learning with Deep Probabilistic Ensembles. arXiv:1811.03575, 2018.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skal.models import DeepProbabilisticEnsemble
    >>> X, y = load_iris(return_X_y=True)
    >>> dpe = DeepProbabilisticEnsemble(n_estimators=4, max_epochs=5, random_state=0)
    >>> dpe.fit(X, y).predict_proba_samples(X[:2]).shape
    (4, 2, 3)
    >>> len(dpe)
    4
    """

    def __init__(
        self,
        module=None,
        *,
        n_estimators=8,
        beta=1.0,
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
        vectorize=True,
        verbose=0,
        **kwargs,
    ):
        self.module = module
        self.n_estimators = n_estimators
        self.beta = beta
        self.max_epochs = max_epochs
        self.lr = lr
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.train_split = train_split
        self.callbacks = callbacks
        self.classes = classes
        self.device = device
        self.random_state = random_state
        self.warm_start = warm_start
        self.vectorize = vectorize
        self.verbose = verbose
        # Kept in one private dict (as parameters, through get_params) rather
        # than as attributes, so that they cannot clash with fitted state.
        self._kwargs = dict(kwargs)

    # -- parameters ---------------------------------------------------------
    def _passthrough(self, prefix=None):
        prefixes = PASSTHROUGH_PREFIXES if prefix is None else (prefix,)
        return {k: v for k, v in self._kwargs.items() if k.startswith(prefixes)}

    def get_params(self, deep=True):
        # `module` may be a skorch net, whose own get_params would otherwise
        # be spliced in under our `module__` prefix.
        params = super().get_params(deep=False)
        params.update(self._passthrough())
        return params

    def set_params(self, **params):
        passthrough = {k: params.pop(k) for k in list(params) if k.startswith(PASSTHROUGH_PREFIXES)}
        self._kwargs.update(passthrough)
        return super().set_params(**params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags

    def _check_params(self):
        for key in self._kwargs:
            if not key.startswith(PASSTHROUGH_PREFIXES):
                raise TypeError(
                    f"{type(self).__name__} got an unexpected keyword argument {key!r}; "
                    f"pass-through parameters start with one of {PASSTHROUGH_PREFIXES}."
                )
        E = self.n_estimators
        if not isinstance(E, numbers.Integral) or isinstance(E, bool) or E < 2:
            raise ValueError(
                f"n_estimators must be an integer >= 2 (an ensemble needs at least two "
                f"members for an across-member variance), got {E!r}; the paper uses 8."
            )
        beta = self.beta
        if not isinstance(beta, numbers.Real) or not np.isfinite(beta) or beta < 0:
            raise ValueError(f"beta must be a finite number >= 0, got {beta!r}.")
        for name in ("max_epochs", "batch_size"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, numbers.Integral) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}.")
        if self.lr is not None and (not isinstance(self.lr, numbers.Real) or self.lr <= 0):
            raise ValueError(f"lr must be a positive number or None, got {self.lr!r}.")

    def _training_settings(self):
        """Optimizer, lr, epochs, batch size: ours, else a template net's, else defaults."""
        net = self.module if isinstance(self.module, NeuralNet) else None
        settings = {}
        for name, default in _DEFAULTS.items():
            value = getattr(self, name)
            if value is None and net is not None:
                value = getattr(net, name)
            settings[name] = default if value is None else value
        extra = self._passthrough()
        if net is not None:
            optimizer_params = {f"optimizer__{k}": v for k, v in net.get_params_for("optimizer").items()}
            extra = {**optimizer_params, **extra}
        return settings, {k: v for k, v in extra.items() if not k.startswith("module__")}

    def _member_factory(self, n_features, n_classes):
        """A callable returning a fresh, independently initialised member."""
        spec = self.module
        module_kwargs = {}
        if isinstance(spec, NeuralNet):
            module_kwargs = dict(spec.get_params_for("module"))
            spec = spec.module
        module_kwargs.update({k[len("module__"):]: v for k, v in self._passthrough("module__").items()})
        if spec is None:
            spec = MLP
        if isinstance(spec, nn.Module):
            if module_kwargs:
                raise ValueError(
                    "module__* parameters were given with a module *instance*; pass the "
                    "module class instead so that they can be used."
                )

            def make():
                member = copy.deepcopy(spec)
                _reset_parameters(member)
                return member

            return make
        if not (isinstance(spec, type) and issubclass(spec, nn.Module)):
            raise TypeError(
                "module must be None, a torch.nn.Module class or instance, or a skorch "
                f"NeuralNet; got {type(spec).__name__}."
            )
        accepted = inspect.signature(spec).parameters
        if "n_features" in accepted:
            module_kwargs.setdefault("n_features", n_features)
        if "n_classes" in accepted:
            module_kwargs.setdefault("n_classes", n_classes)
        return lambda: spec(**module_kwargs)

    # -- data -----------------------------------------------------------------
    def _encode_targets(self, X, y, warm, declared):
        X, y = validate_X(self, X, y, reset=not warm)
        if warm:
            check_classification_targets(y)
            classes = self.classes_
        else:
            classes = first_fit_classes(y, declared)
        return X, encode_labels(y, classes), classes

    # -- fitting ----------------------------------------------------------------
    def fit(self, X, y):
        """Train the E members jointly (from prior draws unless ``warm_start``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, C, H, W)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        warm = self.warm_start and hasattr(self, "net_")
        return self._fit(X, y, warm=warm, declared=self.classes)

    def partial_fit(self, X, y, classes=None):
        """Continue training from the current weights for ``max_epochs`` epochs.

        As in skorch, one call runs ``max_epochs`` epochs; the first call
        initialises the members. ``classes`` may declare all labels on the
        first call, as scikit-learn's ``partial_fit`` does.
        """
        declared = self.classes if classes is None else classes
        return self._fit(X, y, warm=hasattr(self, "net_"), declared=declared)

    def _fit(self, X, y, warm, declared):
        self._check_params()
        X, y_enc, classes = self._encode_targets(X, y, warm, declared)
        device = resolve_device(self.device)
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        with isolated_rng(device):
            torch.manual_seed(seed)
            if not warm:
                self.classes_ = classes
                self.net_ = self._build_net(X, len(classes), device, seed)
            self.net_.partial_fit(X, y_enc)
        self.n_train_ = len(self.net_.train_rows_)
        self.estimators_ = self._export_members(device)
        return self

    def _build_net(self, X, n_classes, device, seed):
        make_member = self._member_factory(self.n_features_in_, n_classes)
        members = [make_member() for _ in range(self.n_estimators)]
        self._check_module_output(members[0], X, n_classes)
        ensemble = StackedEnsemble(members, vectorize=self.vectorize)
        table, skipped = prior_table(members[0])
        sample_from_prior(ensemble.params_dict(), table, generator=torch.Generator().manual_seed(seed))
        self.prior_ = {name: (p.mean, p.var) for name, p in table.items()}
        self.unregularised_params_ = skipped
        settings, extra = self._training_settings()
        net = _JointEnsembleNet(
            module=ensemble,
            criterion=nn.CrossEntropyLoss,
            beta=float(self.beta),
            prior=PriorPenalty(table),
            train_split=self.train_split,
            # used as given, as skorch does, so that a callback that records
            # training dynamics can be read after fit
            callbacks=self.callbacks,
            device=device,
            verbose=self.verbose,
            iterator_train=EvenBatchLoader,
            **settings,
            **{"iterator_train__shuffle": True, **extra},
        )
        net.initialize()
        return net

    def _check_module_output(self, member, X, n_classes):
        member.eval()
        try:
            with torch.no_grad():
                out = member(torch.as_tensor(X[:2]))
        except Exception as exc:  # the module's own error, with our context
            raise ValueError(
                f"module could not process X of shape {X.shape[1:]} per sample: {exc}"
            ) from exc
        finally:
            member.train()
        check_logits(out, n_classes)

    def _export_members(self, device):
        ensemble = self.net_.module_
        members = []
        for e in range(self.n_estimators):
            net = NeuralNetClassifier(
                module=ensemble.member_module(e).eval(),
                criterion=nn.CrossEntropyLoss,
                classes=np.arange(len(self.classes_)),
                optimizer=self.net_.optimizer,
                lr=self.net_.lr,
                max_epochs=self.net_.max_epochs,
                batch_size=self.net_.batch_size,
                iterator_train=EvenBatchLoader,
                train_split=None,
                device=device,
            )
            members.append(net.initialize())
        return members

    # -- prediction ---------------------------------------------------------------
    def _forward(self, X, return_embedding=False):
        """Member outputs over X in minibatches, without autograd."""
        module = self.net_.module_
        module.eval()
        device = self.net_.device
        outs = []
        with torch.no_grad():
            for start in range(0, len(X), self.net_.batch_size):
                xb = torch.as_tensor(X[start : start + self.net_.batch_size]).to(device)
                out = module(xb, return_embedding=return_embedding)
                outs.append(out[1] if return_embedding else out)
        return torch.cat(outs, dim=1).cpu()

    def predict_proba_samples(self, X):
        """Class probabilities of every member.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        samples : ndarray of shape (n_estimators, n_samples, n_classes)
        """
        check_is_fitted(self, "net_")
        X = validate_X(self, X, reset=False)
        logits = self._forward(X).double().numpy()
        return softmax(logits, axis=-1)

    def predict_proba(self, X):
        """Mean of the members' class probabilities, shape (n_samples, n_classes)."""
        proba = self.predict_proba_samples(X).mean(axis=0)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X):
        """Most probable label under the ensemble mean."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def embed(self, X, member=None):
        """Penultimate-layer features, the embedding of diversity strategies.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        member : int or None, default=None
            One member's features, or (``None``) all members' side by side.

        Returns
        -------
        phi : ndarray of shape (n_samples, d) or (n_samples, n_estimators * d)
        """
        check_is_fitted(self, "net_")
        X = validate_X(self, X, reset=False)
        features = self._forward(X, return_embedding=True).numpy()
        if member is not None:
            return features[member]
        return np.concatenate(list(features), axis=1)


class DeepEnsemble(DeepProbabilisticEnsemble):
    """Deep ensemble (Lakshminarayanan et al. 2017): independent members, no prior.

    The members are trained in the same vectorised loop as the
    :class:`DeepProbabilisticEnsemble`, but without the penalty, so each
    member's update depends on its own loss alone: exactly E independent
    nets (that see the same minibatches), at the cost of one.

    Parameters
    ----------
    module, n_estimators, max_epochs, lr, optimizer, batch_size, train_split, \
callbacks, classes, device, random_state, warm_start, vectorize, verbose, **kwargs
        As for :class:`DeepProbabilisticEnsemble`.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skal.models import DeepEnsemble
    >>> X, y = load_iris(return_X_y=True)
    >>> DeepEnsemble(n_estimators=3, max_epochs=5, random_state=0).fit(X, y).predict(X[:3])
    array([0, 0, 0])
    """

    def __init__(
        self,
        module=None,
        *,
        n_estimators=8,
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
        vectorize=True,
        verbose=0,
        **kwargs,
    ):
        super().__init__(
            module,
            n_estimators=n_estimators,
            beta=0.0,
            max_epochs=max_epochs,
            lr=lr,
            optimizer=optimizer,
            batch_size=batch_size,
            train_split=train_split,
            callbacks=callbacks,
            classes=classes,
            device=device,
            random_state=random_state,
            warm_start=warm_start,
            vectorize=vectorize,
            verbose=verbose,
            **kwargs,
        )

    @property
    def beta(self):
        return 0.0

    @beta.setter
    def beta(self, value):
        if value != 0:
            raise ValueError("DeepEnsemble has no prior penalty; use DeepProbabilisticEnsemble for beta > 0.")
