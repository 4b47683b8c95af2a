"""Snapshot ensemble (Huang et al. 2017): the members are checkpoints of one cyclic run."""

from __future__ import annotations

import copy
import math
import numbers

import numpy as np
import torch
from scipy.special import softmax
from sklearn.ensemble import BaseEnsemble
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback
from torch import nn

from .._docstrings import fill_sections
from .._validation import check_scalar
from ._base import (
    PARAMETER_DOCS,
    EvenBatchLoader,
    _BaseDeepClassifier,
    class_softmax,
    even_batch_size,
    rows_as_tensor,
    validate_X,
)
from ._stacked import StackedEnsemble

__all__ = ["SnapshotEnsemble"]


class CyclicSnapshots(Callback):
    """skorch callback: cosine learning-rate cycles, a snapshot of the module at the end of each.

    The ``T`` training steps of a fit (``max_epochs`` epochs of the training
    set) are cut into ``n_cycles`` cycles of ``T / n_cycles`` steps. Within a
    cycle step ``t`` runs at ``lr / 2 * (1 + cos(pi * t / cycle))``, from
    ``lr`` down to nearly 0 (Huang et al. 2017, eq. 2); after the cycle's
    last step the module's state is copied into :attr:`snapshots_`.

    Parameters
    ----------
    n_cycles : int
        Cycles M, hence snapshots, per fit.

    Attributes
    ----------
    snapshots_ : list of dict
        The module's ``state_dict`` at the end of each cycle of the last fit.
    """

    def __init__(self, n_cycles):
        self.n_cycles = n_cycles

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.snapshots_ = []
        self.boundaries_ = None
        self.step_ = 0

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        if self.boundaries_ is not None:
            return
        n_rows = len(dataset_train)
        steps = net.max_epochs * math.ceil(n_rows / even_batch_size(n_rows, net.batch_size))
        if steps < self.n_cycles:
            raise ValueError(
                f"{steps} training steps cannot make {self.n_cycles} learning-rate cycles: train "
                "longer (max_epochs) or take fewer snapshots (n_estimators)."
            )
        # cycle m ends after round((m + 1) T / M) steps
        self.boundaries_ = [round((m + 1) * steps / self.n_cycles) for m in range(self.n_cycles)]

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if not training:
            return
        # (a step beyond the planned T, from a custom iterator, finishes the last cycle)
        cycle = next((m for m, end in enumerate(self.boundaries_) if self.step_ < end), self.n_cycles - 1)
        start = 0 if cycle == 0 else self.boundaries_[cycle - 1]
        progress = min((self.step_ - start) / (self.boundaries_[cycle] - start), 1.0)
        for group in net.optimizer_.param_groups:
            group["lr"] = net.lr / 2 * (1 + math.cos(math.pi * progress))

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if not training:
            return
        self.step_ += 1
        if self.step_ in self.boundaries_:
            self.snapshots_.append(copy.deepcopy(net.module_.state_dict()))


class SnapshotEnsemble(_BaseDeepClassifier, BaseEnsemble):
    """Snapshot ensemble: the members are checkpoints of one network under a cyclic learning rate.

    One network is trained once, its learning rate following ``n_estimators``
    cosine cycles, each annealed from ``lr`` to nearly 0 and restarted
    (:class:`CyclicSnapshots`); the network at the end of each cycle, a
    local minimum the restart then leaves, is a member (Huang et al. 2017).
    An ensemble of M members for the price of one training run. The members
    are exposed as those of any ensemble: ``estimators_`` (skorch nets),
    ``len``, iteration, :meth:`predict_proba_samples` with one sample per
    member, and they are stacked into one vectorised module for prediction.

    Parameters
    ----------
    {module}
    n_estimators : int, default=5
        Snapshots (cycles) M per fit, at least 2.
    {max_epochs}
        The whole run, all cycles together.
    lr : float, default=None
        Learning rate at the start of every cycle; ``None`` is
        ``TRAINING_DEFAULTS["lr"]`` (1e-3).
    {optimizer}
    {batch_size}
    {train_split}
    {callbacks}
    {classes}
    {device}
    {random_state}
    warm_start : bool, default=False
        ``fit`` continues from the current weights instead of
        re-initialising them: M new cycles, whose snapshots replace the
        members. The other settings follow the rules of the other
        estimators (see ``DeepEnsemble``).
    {verbose}
    {kwargs}

    Attributes
    ----------
    estimators_ : list of skorch.NeuralNetClassifier
        The M snapshots as fitted nets, first to last; like the members of
        scikit-learn's forests they work on encoded labels ``0..K-1``.
    classes_ : ndarray of shape (K,)
    n_features_in_ : int
    input_shape_ : tuple of int
    net_ : skorch.NeuralNetClassifier
        The net that trains the network; its ``history`` holds the losses
        of every fit and ``net_.module_`` is the network after the last
        cycle (the last member).

    See Also
    --------
    DeepEnsemble : M networks trained independently.

    References
    ----------
    G. Huang, Y. Li, G. Pleiss, Z. Liu, J. E. Hopcroft, K. Q. Weinberger.
    Snapshot Ensembles: Train 1, get M for free. ICLR 2017 (arXiv:1704.00109).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skal.models import SnapshotEnsemble
    >>> X, y = load_iris(return_X_y=True)
    >>> snap = SnapshotEnsemble(n_estimators=3, max_epochs=6, random_state=0).fit(X, y)
    >>> snap.predict_proba_samples(X[:2]).shape
    (3, 2, 3)
    >>> len(snap)
    3
    """

    def __init__(
        self,
        module=None,
        *,
        n_estimators=5,
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

    def _check_params(self):
        super()._check_params()
        check_scalar(
            self.n_estimators, "n_estimators", numbers.Integral, min_val=2,
            hint="An ensemble needs at least 2 members (their spread is its uncertainty).",
        )

    def _build_net(self, X, n_classes, device, seed):
        module = self._make_module(int(np.prod(X.shape[1:])), n_classes)
        self._check_module(module, X, n_classes)
        params = self._net_params(device)
        # the schedule first, so that the user's callbacks see each step's learning rate
        params["callbacks"] = [("snapshots", CyclicSnapshots(self.n_estimators)), *(self.callbacks or [])]
        net = NeuralNetClassifier(
            module=module, criterion=nn.CrossEntropyLoss, classes=np.arange(n_classes), **params
        )
        return net.initialize()

    def _sync_net(self):
        super()._sync_net()
        dict(self.net_.callbacks_)["snapshots"].n_cycles = self.n_estimators

    def _after_training(self):
        net = self.net_
        # none when built by _initialize: no cycle ran, every member is the network as built
        snapshots = getattr(dict(net.callbacks_)["snapshots"], "snapshots_", None)
        if not snapshots:
            snapshots = [net.module_.state_dict()] * self.n_estimators
        members = []
        for state in snapshots:
            member = copy.deepcopy(net.module_)
            member.load_state_dict(state)
            members.append(member.eval())
        self.stacked_ = StackedEnsemble(members, device=net.device).to(net.device)
        self.estimators_ = [
            NeuralNetClassifier(
                module=member, criterion=nn.CrossEntropyLoss, classes=np.arange(len(self.classes_)),
                optimizer=net.optimizer, lr=net.lr, max_epochs=net.max_epochs, batch_size=net.batch_size,
                iterator_train=EvenBatchLoader, train_split=None, device=net.device,
                # over the class axis (1), as the ensembles' members: skorch's default
                # softmax runs over the last axis, a label map's width
                predict_nonlinearity=class_softmax,
            ).initialize()
            for member in members
        ]

    def _stacked_outputs(self, X, return_embedding):
        """The members' logits, or embeddings, ``(M, n, ...)`` over X in minibatches."""
        check_is_fitted(self, "stacked_")
        X = validate_X(self, X, reset=False)
        self.stacked_.eval()
        batch, outs = self.net_.batch_size, []
        with torch.no_grad():
            for start in range(0, len(X), batch):
                out = self.stacked_(rows_as_tensor(X[start : start + batch], device=self.net_.device),
                                    return_embedding=return_embedding)
                outs.append(out[1] if return_embedding else out)
        return torch.cat(outs, dim=1).cpu()

    def predict_proba_samples(self, X):
        """Class probabilities of every snapshot.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        samples : ndarray of shape (n_estimators, n_samples, n_classes[, H, W])
        """
        # classes on axis 2 of (members, rows, classes[, H, W]): per pixel for label maps
        return softmax(self._stacked_outputs(X, False).double().numpy(), axis=2)

    def embed(self, X, member=None):
        """Penultimate-layer features of the snapshots.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        member : int or None, default=None
            One snapshot's features, or (``None``) all side by side.

        Returns
        -------
        phi : ndarray of shape (n_samples, d) or (n_samples, n_estimators * d)
        """
        if member is not None:
            check_is_fitted(self, "stacked_")
            check_scalar(member, "member", numbers.Integral, min_val=0, max_val=len(self.estimators_) - 1)
        features = self._stacked_outputs(X, True).numpy()
        return features[member] if member is not None else np.concatenate(list(features), axis=1)


SnapshotEnsemble.__doc__ = fill_sections(SnapshotEnsemble.__doc__, PARAMETER_DOCS)
