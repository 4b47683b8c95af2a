"""Bayes by Backprop (Blundell et al. 2015) as a scikit-learn classifier."""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNet, NeuralNetClassifier
from torch import nn

from .._docstrings import fill_sections
from .._validation import check_scalar
from ._base import (
    PARAMETER_DOCS,
    SEED_MAX,
    _BaseDeepClassifier,
    class_softmax,
    isolated_rng,
    rows_as_tensor,
    validate_X,
)
from ._bayesian_layers import bayesian_layers, bayesian_module, check_prior, kl_divergence, posterior_draw
from ._embedding import skorch_embed

__all__ = ["BayesByBackpropClassifier"]


class _VariationalNet(NeuralNetClassifier):
    """skorch net minimising ``mean_batch CE + kl_weight * KL(q || prior) / N_train``.

    That is Blundell et al.'s minibatch cost ``KL / M - log p(D_i | w)``
    (the KL spread evenly over the M minibatches of an epoch) divided by the
    minibatch size. ``N_train`` is the number of rows of the training part of
    the current fit, read in ``get_split_datasets``.
    """

    def __init__(self, *args, kl_weight=1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.kl_weight = kl_weight
        self.n_train_ = 1

    def get_split_datasets(self, X, y=None, **fit_params):
        dataset_train, dataset_valid = super().get_split_datasets(X, y, **fit_params)
        self.n_train_ = max(len(dataset_train), 1)
        return dataset_train, dataset_valid

    def get_loss(self, y_pred, y_true, X=None, training=False):
        ce = super().get_loss(y_pred, y_true, X=X, training=training)
        kl = kl_divergence(self.module_)
        if training:
            self.history.record_batch("ce", ce.item())
            self.history.record_batch("kl", kl.item())
        return ce + self.kl_weight * kl / self.n_train_


class BayesByBackpropClassifier(_BaseDeepClassifier):
    """Bayes by Backprop: a network with a Gaussian posterior over its weights.

    Every ``nn.Linear`` and ``nn.Conv2d`` of the module is made Bayesian
    (:func:`~skal.models.bayesian_module`): weight ``w = mu +
    softplus(rho) * eps``, ``eps ~ N(0, 1)`` drawn afresh at every training
    step, under a Gaussian or scale-mixture prior. The skorch net in
    ``net_`` minimises, per minibatch of the ``N`` training rows, the mean
    cross-entropy plus ``kl_weight * KL(q || prior) / N``: the variational
    free energy of Blundell et al. (2015) with the KL spread evenly over the
    minibatches. At prediction, ``n_samples`` weight draws give as many
    predictive distributions; draw ``s`` is one network, the same for every
    row and call (seeded from ``sample_seed_``), so a pool can be scored in
    chunks and batch-aware strategies see consistent samples.

    Parameters
    ----------
    {module}
        Its ``nn.Linear`` / ``nn.Conv2d`` layers become Bayesian, their
        posterior means starting from the module's own initialisation;
        other layers (BatchNorm, ...) stay deterministic.
    n_samples : int, default=20
        Weight draws S of :meth:`predict_proba` and :meth:`predict_proba_samples`.
    prior_sigma : float or (float, float), default=1.0
        Standard deviation of the Gaussian prior ``N(0, sigma^2)`` of every
        weight, or ``(sigma_1, sigma_2)`` of Blundell's scale mixture
        ``pi N(0, sigma_1^2) + (1 - pi) N(0, sigma_2^2)`` (e.g. ``(1.0,
        0.0025)``); the mixture's KL is the one-sample Monte-Carlo estimate
        of the paper, the Gaussian's the closed form.
    prior_pi : float, default=0.5
        Weight ``pi`` of ``sigma_1`` in the scale mixture.
    rho_init : float, default=-5.0
        Initial ``rho`` of every weight (``softplus(-5) = 0.0067``): training
        starts near the deterministic network.
    kl_weight : float, default=1.0
        Multiplies the KL term; 1 is the variational objective, smaller
        values trust the data more (useful when ``N`` is a few dozen labels).
    {max_epochs}
    {lr}
    {optimizer}
        Unlike the other estimators, no weight decay is added by default:
        the prior is the regulariser, and decay would also pull every
        ``rho`` towards 0 (pass ``optimizer__weight_decay`` to add some).
    {batch_size}
    {train_split}
    {callbacks}
    {classes}
    {device}
    {random_state}
        Also seeds the prediction draws (``sample_seed_``).
    {warm_start}
        ``kl_weight`` changed with ``set_params`` applies to the next fit too.
    {verbose}
    {kwargs}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    input_shape_ : tuple of int
    sample_seed_ : int
        Seed of the prediction draws: draw ``s`` is the same network in
        every call until the network is re-initialised.
    net_ : skorch.NeuralNetClassifier
        The skorch net that trains the Bayesian module on label codes
        ``0..K-1``; ``net_.history`` records, per batch, ``ce`` (mean
        cross-entropy) and ``kl`` (the full KL, before scaling).
    module_ : nn.Module
        The trained Bayesian network, ``net_.module_``.

    See Also
    --------
    MCDropoutClassifier : another approximate posterior, by dropout.
    bayesian_module : the converter.

    Notes
    -----
    :meth:`predict_proba` is the mean of the ``n_samples`` draws; the
    posterior-mean network (``w = mu``) is what ``net_.predict_proba`` and
    :meth:`embed` use.

    References
    ----------
    C. Blundell, J. Cornebise, K. Kavukcuoglu, D. Wierstra. Weight
    Uncertainty in Neural Networks. ICML 2015 (arXiv:1505.05424).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skal.models import BayesByBackpropClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = BayesByBackpropClassifier(max_epochs=5, n_samples=8, random_state=0).fit(X, y)
    >>> clf.predict_proba_samples(X[:4]).shape
    (8, 4, 3)
    >>> type(clf.module_.head).__name__
    'BayesianLinear'
    """

    def __init__(
        self,
        module=None,
        *,
        n_samples=20,
        prior_sigma=1.0,
        prior_pi=0.5,
        rho_init=-5.0,
        kl_weight=1.0,
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
        """The trained Bayesian network (``net_.module_``)."""
        check_is_fitted(self, "net_")
        return self.net_.module_

    def _check_params(self):
        super()._check_params()
        check_scalar(self.n_samples, "n_samples", numbers.Integral, min_val=1)
        check_prior(self.prior_sigma, self.prior_pi)
        check_scalar(self.rho_init, "rho_init", numbers.Real)
        check_scalar(self.kl_weight, "kl_weight", numbers.Real, min_val=0)

    def _build_net(self, X, n_classes, device, seed):
        module = self._make_module(int(np.prod(X.shape[1:])), n_classes)
        self._check_module(module, X, n_classes)
        module = bayesian_module(
            module, prior_sigma=self.prior_sigma, prior_pi=self.prior_pi, rho_init=self.rho_init
        )
        if not bayesian_layers(module):
            raise ValueError(
                f"module {type(module).__name__} has no nn.Linear or nn.Conv2d layer to put a "
                "posterior on: Bayes by Backprop needs at least one."
            )
        self.sample_seed_ = int(np.random.RandomState(seed).randint(SEED_MAX))
        params = self._net_params(device)
        # The prior is the regulariser: no default weight decay, which would
        # also pull every rho towards 0 (sigma towards softplus(0) = 0.69).
        chosen = "optimizer__weight_decay" in self._kwargs or (
            isinstance(self.module, NeuralNet) and "weight_decay" in self.module.get_params_for("optimizer")
        )
        if "optimizer__weight_decay" in params and not chosen:
            params["optimizer__weight_decay"] = 0.0
        net = _VariationalNet(
            module=module,
            criterion=nn.CrossEntropyLoss,
            classes=np.arange(n_classes),
            kl_weight=float(self.kl_weight),
            **params,
        )
        return net.initialize()

    def _sync_net(self):
        super()._sync_net()
        self.net_.kl_weight = float(self.kl_weight)

    # -- prediction -------------------------------------------------------------
    def predict_proba_samples(self, X, n_samples=None, random_state=None):
        """Class probabilities under ``n_samples`` draws of the weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        n_samples : int or None, default=None
            Number of draws S; ``None`` uses the ``n_samples`` parameter.
        random_state : int, RandomState instance or None, default=None
            Seed for other draws; ``None`` uses the draws fixed at fit time
            (``sample_seed_``), so repeated calls and chunks of a pool share
            the same S networks.

        Returns
        -------
        samples : ndarray of shape (S, n_samples, n_classes)
        """
        check_is_fitted(self, "sample_seed_")
        S = check_scalar(
            self.n_samples if n_samples is None else n_samples, "n_samples", numbers.Integral, min_val=1
        )
        seed = (
            self.sample_seed_ if random_state is None
            else int(check_random_state(random_state).randint(SEED_MAX))
        )
        X = validate_X(self, X, reset=False)
        module, device, batch = self.net_.module_, self.net_.device, self.net_.batch_size
        module.eval()
        samples = []
        with isolated_rng(device), torch.no_grad():
            for s in range(S):
                with posterior_draw(module, seed, s):
                    logits = [
                        module(rows_as_tensor(X[start : start + batch], device=device))
                        for start in range(0, len(X), batch)
                    ]
                samples.append(class_softmax(torch.cat(logits).double()).cpu())  # classes on axis 1 (maps too)
        return torch.stack(samples).numpy()

    def embed(self, X):
        """Penultimate-layer features of the posterior-mean network.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        phi : ndarray of shape (n_samples, d)
        """
        check_is_fitted(self, "sample_seed_")
        X = validate_X(self, X, reset=False)
        with isolated_rng(self.net_.device):
            return skorch_embed(self.net_, X)


BayesByBackpropClassifier.__doc__ = fill_sections(BayesByBackpropClassifier.__doc__, PARAMETER_DOCS)
