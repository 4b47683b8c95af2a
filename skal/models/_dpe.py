"""Deep Probabilistic Ensemble (Chitta et al. 2018)."""

from __future__ import annotations

import hashlib
import numbers

import numpy as np
from skorch.dataset import Dataset
from torch.utils.data import Subset

from .._docstrings import fill_sections
from .._validation import check_scalar
from ._ensemble import (
    ENSEMBLE_ATTRIBUTE_DOCS,
    ENSEMBLE_PARAMETER_DOCS,
    _BaseDeepEnsemble,
    _EnsembleNet,
)
from ._prior import PriorPenalty

__all__ = ["DeepProbabilisticEnsemble", "row_digests"]


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


class _PriorEnsembleNet(_EnsembleNet):
    """The DPE's joint net: the summed member cross-entropies plus ``(beta / N_train) Ω``.

    ``N_train`` is the number of distinct rows trained on since the net was
    built: ``get_split_datasets`` (called once per ``partial_fit``, before
    the first minibatch) adds the digests of the rows of the training part,
    not the validation rows of a ``train_split``.
    """

    def __init__(self, *args, beta=1.0, prior=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.beta = beta
        self.prior = prior
        self.train_rows_ = set()

    def get_split_datasets(self, X, y=None, **fit_params):
        dataset_train, dataset_valid = super().get_split_datasets(X, y, **fit_params)
        self.train_rows_ |= row_digests(_training_rows(dataset_train, X))
        return dataset_train, dataset_valid

    def get_loss(self, y_pred, y_true, X=None, training=False):
        ce = super().get_loss(y_pred, y_true, X=X, training=training)
        if not self.beta:
            return ce
        # Ω offset by its minimum: the same gradients, and a logged penalty
        # that reads as 2 KL(prior || ensemble) >= 0.
        penalty = self.prior(self.module_.params_dict())
        if training:
            self.history.record_batch("ce", ce.item())
            self.history.record_batch("omega", penalty.item())
        return ce + (self.beta / max(len(self.train_rows_), 1)) * penalty


class DeepProbabilisticEnsemble(_BaseDeepEnsemble):
    """Deep Probabilistic Ensemble: E networks trained jointly towards a Gaussian prior.

    The E members are trained in **one** loop, vectorised (see
    ``vectorize``), on::

        mean_batch sum_e CE(y, M_e(x)) + (beta / N_train) * Omega

    where Ω is KL(prior || ensemble) up to constants, computed from the mean
    and variance of every parameter *across the members*; the prior is He
    initialisation (see :mod:`skal.models._prior`). Members start from
    draws of that prior whose mean and variance across the members are
    exactly the prior's, so that Ω starts at its minimum: independent
    draws start it at 1e8 to 1e9 with 2 members, as some parameter's two
    draws nearly coincide (see :func:`~skal.models._prior.sample_from_prior`).
    ``beta=0`` draws and trains the members independently, exactly as the
    :class:`~skal.models.DeepEnsemble` does.

    Ω holds two moments of every parameter, its mean and its variance
    across the members, near the prior's: that leaves E - 2 of the E
    values of each parameter to the data. With 2 members none is left;
    every weight stays near ``mu_p +- sqrt(var_p)``, the members mirror
    images, and accuracy suffers (digits, 300 labels: 0.87 with 2
    members, 0.94 with 8 or with a 2-member ``DeepEnsemble``). Use 3 or
    more members (the paper's 8), or a smaller ``beta``.

    ``N_train`` is the number of **distinct rows trained on since the
    members were (re)initialised** (``n_train_``): a fit that initialises
    starts the count afresh; ``partial_fit`` and ``warm_start`` fits add
    the rows not seen before, so teaching the new rows of a round weighs
    the prior as if training on all rows so far. With a ``train_split``
    only the rows of the training part count.

    Parameters
    ----------
    {module}
    {n_estimators}
    beta : float, default=1.0
        Weight of the prior penalty. 0 trains independent members.
    {max_epochs}
    {lr}
    {optimizer}
    {batch_size}
    {train_split}
    {callbacks}
    {classes}
    {device}
    {random_state}
    {warm_start}
        ``beta`` changed with ``set_params`` applies to the next fit too.
    {vectorize}
    {verbose}
    {kwargs}

    Attributes
    ----------
    {attributes}
    n_train_ : int
        ``N_train`` of the last fit: distinct training rows since the
        members were initialised. ``net_.history`` also holds, per batch,
        ``ce`` (summed over members) and ``omega`` (Ω minus its minimum,
        i.e. ``2 KL(prior || ensemble)``).

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
        self._store(locals())

    @property
    def _match_prior_moments(self):
        # Ω at the start finite for every E, not only on average for E >= 4.
        # Without Ω (beta=0) the members are drawn as the DeepEnsemble's.
        return bool(self.beta)

    def _check_params(self):
        super()._check_params()
        check_scalar(self.beta, "beta", numbers.Real, min_val=0)

    def _make_net(self, ensemble, table, **params):
        return _PriorEnsembleNet(
            module=ensemble, beta=float(self.beta), prior=PriorPenalty(table), **params
        )

    def _sync_net(self):
        super()._sync_net()
        self.net_.beta = float(self.beta)

    def _after_training(self):
        super()._after_training()
        self.n_train_ = len(self.net_.train_rows_)


DeepProbabilisticEnsemble.__doc__ = fill_sections(
    DeepProbabilisticEnsemble.__doc__,
    {**ENSEMBLE_PARAMETER_DOCS, "attributes": ENSEMBLE_ATTRIBUTE_DOCS},
)
