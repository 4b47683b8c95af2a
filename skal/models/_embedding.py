"""Penultimate-layer features of fitted skorch nets.

Diversity strategies (core-set, BADGE, ...) need an embedding ``phi(x)``.
For a network it is the input of its output layer, read with a forward
pre-hook so that any module works without a dedicated ``embed`` method.
"""

from __future__ import annotations

import numpy as np
import torch

from ._modules import find_head

__all__ = ["skorch_embed", "find_head"]


def skorch_embed(net, X):
    """Penultimate-layer features of a fitted skorch net.

    The input of the module's output layer (see :func:`find_head`: a
    submodule named ``head``, else the last ``nn.Linear``) is captured with
    a forward pre-hook while the net predicts ``X`` in evaluation mode
    (dropout off, BatchNorm running statistics), without gradients, in the
    net's prediction batches.

    Parameters
    ----------
    net : skorch.NeuralNet
        A fitted (initialised) skorch net.
    X : input data
        Anything the net's ``predict_proba`` accepts.

    Returns
    -------
    phi : ndarray of shape (n_samples, d)
        Features flattened to one row per sample.

    Examples
    --------
    >>> import numpy as np
    >>> from skorch import NeuralNetClassifier
    >>> from skal.models import MLP
    >>> from skal.models._embedding import skorch_embed
    >>> X = np.random.RandomState(0).rand(20, 4).astype(np.float32)
    >>> net = NeuralNetClassifier(MLP, module__n_features=4, module__n_classes=2,
    ...                           module__hidden_units=(16,), max_epochs=1,
    ...                           train_split=None, verbose=0)
    >>> skorch_embed(net.initialize(), X).shape
    (20, 16)
    """
    net.check_is_fitted()
    head = find_head(net.module_)
    captured = []

    def hook(module, args):
        captured.append(args[0].detach().flatten(1).to("cpu"))

    handle = head.register_forward_pre_hook(hook)
    try:
        iterator = net.get_iterator(net.get_dataset(X), training=False)
        for batch in iterator:
            # evaluation_step switches every module to eval mode, without grad.
            net.evaluation_step(batch, training=False)
    finally:
        handle.remove()
    if not captured:
        return np.empty((0, head.in_features if hasattr(head, "in_features") else 0),
                        dtype=np.float32)
    return torch.cat(captured).numpy()
