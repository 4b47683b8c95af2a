"""Deep ensembles trained jointly in one vectorised module, and the plain deep ensemble.

:class:`_BaseDeepEnsemble` is what :class:`DeepEnsemble` and
:class:`~skal.models.DeepProbabilisticEnsemble` share (as scikit-learn's
``ForestClassifier`` is for its forests): E members of one architecture
drawn from the He prior, stacked into one
:class:`~skal.models._stacked.StackedEnsemble` that a single skorch loop
trains, exported after fit as E skorch nets in ``estimators_``.
"""

from __future__ import annotations

import inspect
import numbers

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import softmax
from sklearn.ensemble import BaseEnsemble
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNetClassifier
from skorch.utils import to_tensor
from torch import nn
from torch.optim import optimizer as optimizer_module

from .._docstrings import fill_sections
from .._validation import check_scalar
from ._base import (
    PARAMETER_DOCS,
    EvenBatchLoader,
    _BaseDeepClassifier,
    _reset_parameters,
    class_softmax,
    rows_as_tensor,
    validate_X,
)
from ._prior import prior_table, sample_from_prior
from ._stacked import StackedEnsemble

__all__ = ["DeepEnsemble"]

ENSEMBLE_PARAMETER_DOCS = {
    **PARAMETER_DOCS,
    "n_estimators": """\
n_estimators : int, default=8
    Number of members E, at least 2 (the DPE paper uses 8; E <= 3 was
    unstable there). Read when the members are (re)initialised.""",
    "vectorize": """\
vectorize : bool, default=True
    Compute all members in one forward/backward. How is chosen from the
    module and the device, the fastest that applies: layer by layer (one
    batched matrix product per ``Linear``, one grouped convolution per
    ``Conv``, ...) when its forward is a chain of the layers
    :mod:`skal.models._stacked` stacks, as for skal's ``MLP``,
    ``GalCNN`` and ``SmallCNN``; else ``torch.func.vmap``; on CPU,
    members with convolutions one after another, which is faster there
    (``net_.module_.path`` says which). ``False`` loops over the members,
    for modules that ``vmap`` cannot batch.""",
}

ENSEMBLE_ATTRIBUTE_DOCS = """\
estimators_ : list of skorch.NeuralNetClassifier
    The E fitted members, usable on their own. Like the members of
    scikit-learn's forests they work on encoded labels ``0..K-1``:
    ``ensemble.classes_[member.predict(X)]`` gives the labels.
classes_ : ndarray of shape (K,)
n_features_in_ : int
input_shape_ : tuple of int
    Shape of one sample (``X.shape[1:]``) seen during fit.
net_ : skorch.NeuralNetClassifier
    The joint net that trains the stacked members (its ``module_`` is a
    :class:`~skal.models._stacked.StackedEnsemble`); its ``history``
    holds the losses of every fit.
prior_ : dict of str to (float, float)
    Mean and variance of the He prior the members are drawn from, for each
    parameter it covers.
unregularised_params_ : list of str
    Parameters of layer types without a prior (they keep their module's
    own initialisation)."""


def multi_tensor_step(optimizer, device):
    """Keyword arguments that make ``optimizer`` update all its tensors in one step.

    ``fused=True`` where torch has fused kernels for the device (one kernel
    per step; on CPU 2.5x faster than the default per-tensor loop for the
    ensembles' few large tensors, where ``foreach`` is slower still), else
    ``foreach=True``; nothing for an optimizer that has neither.

    Examples
    --------
    >>> import torch
    >>> from skal.models._ensemble import multi_tensor_step
    >>> multi_tensor_step(torch.optim.Adam, "cpu")
    {'fused': True}
    >>> multi_tensor_step(torch.optim.RMSprop, "cpu")
    {'foreach': True}
    """
    accepted = inspect.signature(optimizer).parameters
    # private, but the list torch's own optimizers check `fused` against
    fused_devices = getattr(optimizer_module, "_get_fused_kernels_supported_devices", list)()
    if "fused" in accepted and torch.device(device).type in fused_devices:
        return {"fused": True}
    if "foreach" in accepted:
        return {"foreach": True}
    return {}


class _EnsembleNet(NeuralNetClassifier):
    """skorch net whose module is a :class:`StackedEnsemble` of E members.

    ``get_loss`` sums the members' mean cross-entropies, so each member's
    gradient is its own loss's; ``predict_proba`` averages the member
    softmaxes so that skorch's scoring callbacks (``valid_acc``) see the
    ensemble. The optimizer takes one multi-tensor step for all members
    (:func:`multi_tensor_step`) unless ``optimizer__fused`` or
    ``optimizer__foreach`` say otherwise.
    """

    def get_params_for_optimizer(self, prefix, named_parameters):
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        if prefix == "optimizer" and not {"fused", "foreach"} & kwargs.keys():
            kwargs.update(multi_tensor_step(self.optimizer, self.device))
        return args, kwargs

    def get_loss(self, y_pred, y_true, X=None, training=False):
        # y_pred: (E, batch, K) logits, or (E, batch, K, H, W) against label maps
        y_true = to_tensor(y_true, device=self.device)
        n_members = y_pred.shape[0]
        # Classes along dim 1: for few classes, the log-softmax runs across
        # the batch instead of along E*batch short rows, ~4x faster on CPU.
        return n_members * F.cross_entropy(y_pred.transpose(1, 2), y_true.expand(n_members, *y_true.shape))

    def predict_proba(self, X):
        probas = [
            torch.softmax(logits.double(), dim=2).mean(0).cpu().numpy()
            for logits in self.forward_iter(X, training=False)
        ]
        return np.concatenate(probas, 0)


class _BaseDeepEnsemble(_BaseDeepClassifier, BaseEnsemble):
    """E networks trained in one vectorised skorch loop, exported as ``estimators_``.

    Subclasses choose the skorch net in ``_make_net``.

    Warning: this class should not be used directly. Use derived classes
    instead.
    """

    #: Whether the members' first values of each parameter have exactly the
    #: prior's mean and variance across members (``sample_from_prior``'s
    #: ``match_moments``), rather than being independent draws.
    _match_prior_moments = False

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
        self._store(locals())

    def _check_params(self):
        super()._check_params()
        check_scalar(
            self.n_estimators,
            "n_estimators",
            numbers.Integral,
            min_val=2,
            hint="An ensemble needs at least 2 members (their spread is its uncertainty); "
            "the DPE paper uses 8.",
        )
        check_scalar(self.vectorize, "vectorize", bool)

    # -- the joint net ----------------------------------------------------------
    def _make_net(self, ensemble, table, **params):
        """The skorch net that trains ``ensemble`` (``table``: the members' prior)."""
        return _EnsembleNet(module=ensemble, **params)

    def _build_net(self, X, n_classes, device, seed):
        n_features = int(np.prod(X.shape[1:]))
        members = [self._make_module(n_features, n_classes) for _ in range(self.n_estimators)]
        if isinstance(self._module_spec()[0], nn.Module):
            # copies of one instance: independent draws, not clones
            for member in members:
                _reset_parameters(member)
        self._check_module(members[0], X, n_classes)
        ensemble = StackedEnsemble(
            members,
            path=None if self.vectorize else "loop",
            example=rows_as_tensor(X[:2]),
            device=device,
        )
        table, skipped = prior_table(members[0])
        sample_from_prior(
            ensemble.params_dict(),
            table,
            generator=torch.Generator().manual_seed(seed),
            match_moments=self._match_prior_moments,
        )
        self.prior_ = {name: (p.mean, p.var) for name, p in table.items()}
        self.unregularised_params_ = skipped
        net = self._make_net(
            ensemble,
            table,
            criterion=nn.CrossEntropyLoss,
            classes=np.arange(n_classes),
            **self._net_params(device),
        )
        return net.initialize()

    def _after_training(self):
        self.estimators_ = self._export_members()

    def _export_members(self):
        net = self.net_
        members = []
        for e in range(net.module_.n_members):
            member = NeuralNetClassifier(
                module=net.module_.member_module(e).eval(),
                criterion=nn.CrossEntropyLoss,
                classes=np.arange(len(self.classes_)),
                optimizer=net.optimizer,
                lr=net.lr,
                max_epochs=net.max_epochs,
                batch_size=net.batch_size,
                iterator_train=EvenBatchLoader,
                train_split=None,
                device=net.device,
                predict_nonlinearity=class_softmax,
            )
            members.append(member.initialize())
        return members

    # -- prediction ---------------------------------------------------------------
    def _forward(self, X, return_embedding=False):
        """Member outputs over X in minibatches, without autograd."""
        module = self.net_.module_
        module.eval()
        device = self.net_.device
        batch_size = self.net_.batch_size
        outs = []
        with torch.no_grad():
            for start in range(0, len(X), batch_size):
                xb = rows_as_tensor(X[start : start + batch_size], device=device)
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
            ``(n_estimators, n_samples, n_classes, H, W)`` for a segmenter
            (fitted on label maps).
        """
        check_is_fitted(self, "net_")
        X = validate_X(self, X, reset=False)
        return softmax(self._forward(X).double().numpy(), axis=2)

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
        if member is not None:
            check_scalar(member, "member", numbers.Integral, min_val=0, max_val=len(self.estimators_) - 1)
        X = validate_X(self, X, reset=False)
        features = self._forward(X, return_embedding=True).numpy()
        if member is not None:
            return features[member]
        return np.concatenate(list(features), axis=1)


class DeepEnsemble(_BaseDeepEnsemble):
    """Deep ensemble (Lakshminarayanan et al. 2017): E independent networks.

    The members start from independent draws of the He prior and are
    trained in one vectorised loop without any coupling: each member's
    update depends on its own loss alone, so this is exactly E independent
    nets (that see the same minibatches), at a fraction of E nets' cost. The
    :class:`~skal.models.DeepProbabilisticEnsemble` adds a prior penalty
    to the same training.

    Parameters
    ----------
    {module}
    {n_estimators}
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
    {vectorize}
    {verbose}
    {kwargs}

    Attributes
    ----------
    {attributes}

    See Also
    --------
    DeepProbabilisticEnsemble : the same members trained towards the prior.

    References
    ----------
    B. Lakshminarayanan, A. Pritzel, C. Blundell. Simple and Scalable
    Predictive Uncertainty Estimation using Deep Ensembles. NeurIPS 2017.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skal.models import DeepEnsemble
    >>> X, y = load_iris(return_X_y=True)
    >>> de = DeepEnsemble(n_estimators=3, max_epochs=5, random_state=0).fit(X, y)
    >>> de.predict_proba_samples(X[:2]).shape
    (3, 2, 3)
    >>> len(de)
    3
    """


DeepEnsemble.__doc__ = fill_sections(
    DeepEnsemble.__doc__, {**ENSEMBLE_PARAMETER_DOCS, "attributes": ENSEMBLE_ATTRIBUTE_DOCS}
)
