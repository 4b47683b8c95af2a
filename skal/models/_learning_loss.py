"""Learning loss (Yoo & Kweon 2019): a network that also predicts its own loss.

A loss-prediction module reads intermediate features of the classifier,
global-average-pools each one, maps it through its own fully connected
layer and ReLU, concatenates the results and maps them to one number, the
predicted loss ``l̂(x)``. It is trained with the classifier, on the same
minibatches, by a pairwise ranking loss on the minibatch halves: for the
pair ``(i, j)`` with true losses ``l_i, l_j``,
``max(0, -sign(l_i - l_j) · (l̂_i - l̂_j) + ξ)``, so that only the *order*
of the losses is learned (their scale shrinks as the classifier trains).
The total loss is ``CE + λ · L_rank``. Active learning queries the pool
points of largest predicted loss (:func:`skal.strategies.learning_loss`).

:class:`LossPredictionModule` adds the module to any torch classifier by
composition: forward hooks on named layers of the unchanged backbone
capture their outputs. :class:`LearningLossClassifier` trains it, a sibling
of skal's other deep estimators over their private base.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.validation import check_is_fitted
from skorch import NeuralNetClassifier
from skorch.utils import to_tensor
from torch import nn

from .._docstrings import fill_sections
from .._validation import check_scalar
from ._base import PARAMETER_DOCS, _BaseDeepClassifier, isolated_rng, rows_as_tensor, validate_X
from ._embedding import skorch_embed
from ._modules import find_head

__all__ = ["LearningLossClassifier", "LossPredictionModule", "pairwise_ranking_loss"]


def pairwise_ranking_loss(predicted, target, margin=1.0):
    """Yoo & Kweon's ranking loss on the halves of a minibatch.

    Row ``i`` of the first half is paired with row ``n - 1 - i`` (the
    second half reversed; the middle row of an odd batch is left out), and
    each pair costs ``max(0, -s · (l̂_i - l̂_j) + margin)`` with
    ``s = +1`` if ``l_i > l_j`` and ``-1`` otherwise; the result is the mean
    over the ``n // 2`` pairs (torch's ``margin_ranking_loss``).

    Parameters
    ----------
    predicted : tensor of shape (n,)
        Predicted losses ``l̂``.
    target : tensor of shape (n,)
        True losses ``l`` (detached: no gradient flows into them).
    margin : float, default=1.0
        ξ: a pair costs nothing once its predicted losses are ordered
        right by at least this much.

    Returns
    -------
    loss : scalar tensor
        0 for a minibatch of fewer than 2 rows.

    Examples
    --------
    >>> import torch
    >>> from skal.models import pairwise_ranking_loss
    >>> predicted = torch.tensor([0.5, 0.0, 2.0, 1.0])
    >>> target = torch.tensor([3.0, 1.0, 2.0, 0.0])
    >>> # pairs (0, 3): l0 > l3, max(0, -(0.5 - 1.0) + 1) = 1.5
    >>> #       (1, 2): l1 < l2, max(0, +(0.0 - 2.0) + 1) = 0
    >>> pairwise_ranking_loss(predicted, target)
    tensor(0.7500)
    """
    n = predicted.shape[0] // 2
    if n == 0:
        return predicted.sum() * 0.0
    first, second = predicted[:n], predicted.flip(0)[:n]
    target = target.detach()
    sign = torch.where(target[:n] > target.flip(0)[:n], 1.0, -1.0).to(predicted.dtype)
    return F.margin_ranking_loss(first, second, sign, margin=margin)


# Layers whose output the default choice never takes: dropout is the
# identity at prediction, and flattening/global pooling only reshape what
# the loss-prediction module pools itself.
_NOT_FEATURES = (
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.Flatten,
    nn.Identity, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
)


def _capture(backbone, names, X):
    """Run ``backbone`` on X and return its logits and the outputs of the named layers."""
    captured = {}
    handles = []
    for name in names:
        def store(module, args, output, name=name):
            captured[name] = output[0] if isinstance(output, tuple) else output
        handles.append(backbone.get_submodule(name).register_forward_hook(store))
    try:
        logits = backbone(X)
    finally:
        for handle in handles:
            handle.remove()
    return logits, [captured[name] for name in names]


def _stage_outputs(backbone, example):
    """Default layers: the last layer of each run of layers with equal output size.

    The candidates are the direct children of ``backbone.body`` (of the
    backbone itself when it has no ``body``), minus its head and the layers
    of ``_NOT_FEATURES``, in the order a forward pass runs them. A "run"
    shares the spatial size of its output (the width for vectors), so the
    choice is the output of each stage before it is downsampled, and of the
    dense layers: the blocks of a ResNet, the pooled stages of a VGG, the
    hidden layers of an MLP.
    """
    head_name = find_head(backbone, return_name=True)[0]
    body = getattr(backbone, "body", None)
    container, prefix = (body, "body.") if isinstance(body, nn.Module) else (backbone, "")
    candidates = [
        prefix + name for name, child in container.named_children()
        if prefix + name != head_name and not isinstance(child, _NOT_FEATURES)
    ]
    order = []

    def record(name):
        def hook(module, args, output):
            if isinstance(output, torch.Tensor) and name not in dict(order):
                key = tuple(output.shape[2:]) if output.dim() > 2 else ("width", output.shape[1])
                order.append((name, key))
        return hook

    handles = [backbone.get_submodule(n).register_forward_hook(record(n)) for n in candidates]
    try:
        with torch.no_grad():
            backbone(example)
    finally:
        for handle in handles:
            handle.remove()
    chosen = [name for (name, key), nxt in zip(order, order[1:] + [(None, None)]) if key != nxt[1]]
    return chosen


class LossPredictionModule(nn.Module):
    """A classifier with Yoo & Kweon's loss-prediction module, by composition.

    ``forward(X)`` returns ``(logits, predicted_loss)``: the backbone's own
    logits, unchanged, and ``l̂(x)``, computed from the outputs of the
    backbone's layers named in ``layers``, captured with forward hooks
    registered for the duration of each forward pass (so copies and pickles
    of the module carry no stale hooks). Each captured feature is
    global-average-pooled over its spatial dimensions (vectors are used as
    they are), mapped by its own ``Linear(c, hidden_units)`` and ReLU; the
    concatenation goes through a last ``Linear(hidden_units · L, 1)``.

    Parameters
    ----------
    backbone : nn.Module
        Any classifier returning logits (skal's MLP, GalCNN, SmallCNN,
        SmallResNet, a torchvision backbone...); it is used, not copied.
    example : tensor
        A few input rows, run once through the backbone (in evaluation
        mode) to find the default layers and their widths.
    layers : sequence of str, default=None
        Qualified names of the backbone's layers whose outputs feed the
        module (``dict(backbone.named_modules())`` keys). ``None`` takes
        the output of each stage: the last layer of each run of layers of
        ``backbone.body`` with the same output size (spatial size, or width
        for vectors), dropout, flattening and global pooling left out. For
        skal's modules that is, e.g., the hidden activation of an MLP, the
        two convolutions, the pooling and the dense layer of GalCNN, the
        blocks of SmallResNet, and the four stages of a torchvision ResNet.
    hidden_units : int, default=128
        Width of each feature's fully connected layer (the paper's 128).

    Attributes
    ----------
    backbone : nn.Module
    layers : tuple of str
    detach_features : bool
        When True, the module reads the features without letting its
        gradient reach the backbone (set by the training schedule).

    Examples
    --------
    >>> import torch
    >>> from skal.models import GalCNN, LossPredictionModule
    >>> module = LossPredictionModule(GalCNN(), torch.zeros(2, 1, 28, 28))
    >>> module.layers
    ('body.1', 'body.3', 'body.4', 'body.8')
    >>> logits, loss = module(torch.zeros(3, 1, 28, 28))
    >>> logits.shape, loss.shape
    (torch.Size([3, 10]), torch.Size([3]))
    """

    def __init__(self, backbone, example, *, layers=None, hidden_units=128):
        super().__init__()
        check_scalar(hidden_units, "hidden_units", numbers.Integral, min_val=1)
        was_training = backbone.training
        backbone.eval()
        try:
            if layers is None:
                layers = _stage_outputs(backbone, example)
                if not layers:
                    raise ValueError(
                        f"{type(backbone).__name__} has no intermediate layer the loss-prediction "
                        "module could read; name them with loss_layers=[...] (keys of "
                        "module.named_modules())."
                    )
            else:
                layers = self._check_layers(backbone, layers)
            with torch.no_grad():
                _, features = _capture(backbone, layers, example)
        finally:
            backbone.train(was_training)
        self.backbone = backbone
        self.layers = tuple(layers)
        self.detach_features = False
        self.feature_layers = nn.ModuleList(nn.Linear(f.shape[1], hidden_units) for f in features)
        self.loss_layer = nn.Linear(hidden_units * len(features), 1)

    @staticmethod
    def _check_layers(backbone, layers):
        if isinstance(layers, str) or not all(isinstance(n, str) for n in layers) or not layers:
            raise TypeError(
                f"loss_layers must be a non-empty sequence of layer names, got {layers!r}."
            )
        known = dict(backbone.named_modules())
        unknown = [n for n in layers if n not in known or n == ""]
        if unknown:
            names = [n for n in known if n][:12]
            raise ValueError(
                f"loss_layers names {unknown} that {type(backbone).__name__} does not have; "
                f"its layers include {names}."
            )
        return list(layers)

    @property
    def head(self):
        """The backbone's output layer, whose input is the embedding φ(x)."""
        return find_head(self.backbone)

    def forward(self, X):
        logits, features = _capture(self.backbone, self.layers, X)
        hidden = []
        for feature, layer in zip(features, self.feature_layers):
            if feature.dim() > 2:
                feature = feature.flatten(2).mean(dim=2)
            if self.detach_features:
                feature = feature.detach()
            hidden.append(F.relu(layer(feature)))
        return logits, self.loss_layer(torch.cat(hidden, dim=1)).squeeze(1)


class _LearningLossNet(NeuralNetClassifier):
    """skorch net of a :class:`LossPredictionModule`: ``CE + λ · L_rank`` in ``get_loss``.

    ``on_epoch_begin`` applies the schedule: past ``detach_after ·
    max_epochs`` epochs of a fit, the loss-prediction module's gradient no
    longer reaches the backbone (Yoo & Kweon stop it after 120 of 200
    epochs).
    """

    def __init__(self, *args, loss_weight=1.0, margin=1.0, detach_after=0.6, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_weight = loss_weight
        self.margin = margin
        self.detach_after = detach_after

    def get_loss(self, y_pred, y_true, X=None, training=False):
        logits, predicted = y_pred
        y_true = to_tensor(y_true, device=self.device)
        losses = F.cross_entropy(logits, y_true, reduction="none")
        ranking = pairwise_ranking_loss(predicted, losses.detach(), margin=self.margin)
        return losses.mean() + self.loss_weight * ranking

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        super().on_train_begin(net, X=X, y=y, **kwargs)
        self._first_epoch = len(self.history)

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_begin(net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs)
        epoch = len(self.history) - self._first_epoch  # 1 in the first epoch of this fit
        self.module_.detach_features = (
            self.detach_after is not None and epoch > self.detach_after * self.max_epochs
        )


class LearningLossClassifier(_BaseDeepClassifier):
    """A classifier that learns to predict its own loss (Yoo & Kweon 2019).

    The network is the ``module`` (any torch classifier; skal's
    :class:`~skal.models.MLP` by default) with a loss-prediction module
    (:class:`LossPredictionModule`) reading its intermediate features
    through forward hooks. Both are trained together by a skorch net, held
    in ``net_``, on ``CE + loss_weight · L_rank``, where ``L_rank`` is
    :func:`pairwise_ranking_loss` between the predicted losses and the
    per-row cross-entropies of each minibatch. :meth:`predict_loss` gives
    ``l̂(x)``; :func:`skal.strategies.learning_loss` queries its largest
    values. Otherwise a plain classifier: ``predict_proba`` is the
    network's softmax (one predictive sample, S = 1).

    Parameters
    ----------
    {module}
    loss_layers : sequence of str, default=None
        Names of the layers whose outputs feed the loss-prediction module;
        ``None`` takes the output of each stage of the network (see
        :class:`LossPredictionModule`).
    loss_hidden_units : int, default=128
        Width of the module's per-feature layers.
    loss_weight : float, default=1.0
        λ, the weight of the ranking loss (the paper's 1).
    margin : float, default=1.0
        ξ of the ranking loss (the paper's 1).
    detach_after : float or None, default=0.6
        Fraction of the epochs of a fit after which the ranking loss no
        longer trains the network's own layers, only the module (the paper
        stops the gradient after 120 of 200 epochs). ``None`` never stops
        it, 0 never lets it through.
    {max_epochs}
    {lr}
    {optimizer}
    {batch_size}
        Each minibatch is also split in halves for the ranking loss: at
        least 2 rows are needed for it to contribute.
    {train_split}
    {callbacks}
    {classes}
    {device}
    {random_state}
    {warm_start}
    {verbose}
    {kwargs}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    input_shape_ : tuple of int
        Shape of one sample seen during fit.
    net_ : skorch.NeuralNetClassifier
        The net that trains the network and the loss-prediction module; its
        ``history`` records the total loss.
    module_ : LossPredictionModule
        The trained network (``module_.backbone``) with its loss-prediction
        module; ``module_.layers`` names the layers it reads.

    See Also
    --------
    skal.strategies.learning_loss : the strategy that queries by predicted loss.

    References
    ----------
    D. Yoo, I. S. Kweon. Learning Loss for Active Learning. CVPR 2019.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skal.models import LearningLossClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16.0
    >>> clf = LearningLossClassifier(max_epochs=5, random_state=0).fit(X[:200], y[:200])
    >>> clf.predict_loss(X[200:205]).shape
    (5,)
    >>> clf.predict_proba_samples(X[200:205]).shape
    (1, 5, 10)
    """

    def __init__(
        self,
        module=None,
        *,
        loss_layers=None,
        loss_hidden_units=128,
        loss_weight=1.0,
        margin=1.0,
        detach_after=0.6,
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
        """The trained network with its loss-prediction module (``net_.module_``)."""
        check_is_fitted(self, "net_")
        return self.net_.module_

    def _check_params(self):
        super()._check_params()
        check_scalar(self.loss_hidden_units, "loss_hidden_units", numbers.Integral, min_val=1)
        check_scalar(self.loss_weight, "loss_weight", numbers.Real, min_val=0)
        check_scalar(self.margin, "margin", numbers.Real, min_val=0)
        check_scalar(
            self.detach_after, "detach_after", numbers.Real, min_val=0, max_val=1, allow_none=True
        )

    def _build_net(self, X, n_classes, device, seed):
        backbone = self._make_module(int(np.prod(X.shape[1:])), n_classes)
        self._check_module(backbone, X, n_classes)
        module = LossPredictionModule(
            backbone, rows_as_tensor(X[:2]), layers=self.loss_layers,
            hidden_units=self.loss_hidden_units,
        )
        net = _LearningLossNet(
            module=module,
            criterion=nn.CrossEntropyLoss,
            classes=np.arange(n_classes),
            loss_weight=self.loss_weight,
            margin=self.margin,
            detach_after=self.detach_after,
            **self._net_params(device),
        )
        return net.initialize()

    def _sync_net(self):
        super()._sync_net()
        self.net_.set_params(
            loss_weight=self.loss_weight, margin=self.margin, detach_after=self.detach_after
        )

    def _outputs(self, X):
        """Logits and predicted losses of X, in the net's prediction batches."""
        check_is_fitted(self, "net_")
        X = validate_X(self, X, reset=False)
        logits, losses = [], []
        with isolated_rng(self.net_.device), torch.no_grad():
            for out, loss in self.net_.forward_iter(X, training=False):
                logits.append(out.double().cpu())
                losses.append(loss.double().cpu())
        return torch.cat(logits), torch.cat(losses)

    def predict_proba_samples(self, X):
        """The network's class probabilities, as one predictive sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        samples : ndarray of shape (1, n_samples, n_classes)
        """
        logits, _ = self._outputs(X)
        return torch.softmax(logits, dim=1).numpy()[None]

    def predict_loss(self, X):
        """The loss-prediction module's output ``l̂(x)``: higher means a larger expected loss.

        Only its order is meaningful (it is trained by a ranking loss).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        loss : ndarray of shape (n_samples,), float64
        """
        return self._outputs(X)[1].numpy()

    def embed(self, X):
        """Penultimate-layer features of the network (the input of its head).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        phi : ndarray of shape (n_samples, d)
        """
        check_is_fitted(self, "net_")
        X = validate_X(self, X, reset=False)
        with isolated_rng(self.net_.device):
            return skorch_embed(self.net_, X)


LearningLossClassifier.__doc__ = fill_sections(LearningLossClassifier.__doc__, PARAMETER_DOCS)
