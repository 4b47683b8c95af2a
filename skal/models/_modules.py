"""Reference torch modules.

Every module returns **logits** (no softmax): skal trains them with
``CrossEntropyLoss`` and its skorch nets apply the softmax at prediction.
The last layer is an ``nn.Linear`` named ``head`` whose input is the
penultimate-layer embedding ``phi(x)`` that diversity strategies use.
"""

from __future__ import annotations

from torch import nn

__all__ = ["MLP"]


class MLP(nn.Module):
    """Multi-layer perceptron for tabular data.

    Parameters
    ----------
    n_features : int
        Number of input features.
    n_classes : int
        Number of output logits.
    hidden_units : tuple of int, default=(128,)
        Width of each hidden layer.
    dropout : float, default=0.0
        Dropout probability after each hidden activation (MC dropout uses it).
    activation : type of nn.Module, default=nn.ReLU

    Examples
    --------
    >>> import torch
    >>> from skal.models import MLP
    >>> MLP(n_features=4, n_classes=3)(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
    """

    def __init__(self, n_features, n_classes, hidden_units=(128,), dropout=0.0, activation=nn.ReLU):
        super().__init__()
        layers = []
        width = n_features
        for units in hidden_units:
            layers += [nn.Linear(width, units), activation()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = units
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, n_classes)

    def forward(self, X):
        return self.head(self.body(X.flatten(1)))
