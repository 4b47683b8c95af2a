"""Bayes by Backprop layers (Blundell et al. 2015) and the converter that makes a module Bayesian.

Each weight has a Gaussian posterior ``q(w) = N(mu, sigma^2)`` with
``sigma = softplus(rho)``, sampled by reparameterisation,
``w = mu + softplus(rho) * eps`` with ``eps ~ N(0, 1)``. The prior is a
Gaussian ``N(0, sigma_p^2)`` or Blundell's scale mixture
``pi N(0, sigma_1^2) + (1 - pi) N(0, sigma_2^2)``. :func:`kl_divergence`
sums ``KL(q || p)`` over a module's Bayesian layers: in closed form for the
Gaussian prior, by the one-sample Monte-Carlo estimate
``log q(w) - log p(w)`` of the paper at the weights of the last training
forward pass for the mixture.

When the layers draw:

* in training mode, fresh ``eps`` at every forward pass;
* in evaluation mode, the posterior mean ``mu`` (as dropout switches off),
  unless :func:`posterior_draw` fixes a draw: then every forward pass
  uses the same weights, the draw ``s`` of a seed, whatever the batch.
"""

from __future__ import annotations

import contextlib
import copy
import math
import numbers

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_scalar

__all__ = [
    "BayesianConv2d",
    "BayesianLinear",
    "bayesian_module",
    "bayesian_layers",
    "kl_divergence",
    "posterior_draw",
]

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def check_prior(prior_sigma, prior_pi):
    """``prior_sigma``: a positive float, or a pair of them (a scale mixture weighted by ``prior_pi``)."""
    if isinstance(prior_sigma, (tuple, list)):
        if len(prior_sigma) != 2:
            raise ValueError(
                f"prior_sigma={prior_sigma!r}: pass one standard deviation (a Gaussian prior) or "
                "two, (sigma_1, sigma_2), for a scale-mixture prior."
            )
        sigmas = tuple(
            check_scalar(s, "prior_sigma", numbers.Real, min_val=0, include_boundaries="neither")
            for s in prior_sigma
        )
        pi = check_scalar(prior_pi, "prior_pi", numbers.Real, min_val=0, max_val=1,
                          include_boundaries="neither")
        return sigmas, pi
    sigma = check_scalar(prior_sigma, "prior_sigma", numbers.Real, min_val=0, include_boundaries="neither")
    return (sigma,), 1.0


def _gaussian_log_prob(w, sigma):
    return -_LOG_SQRT_2PI - math.log(sigma) - w.pow(2) / (2 * sigma**2)


class _BayesianLayer(nn.Module):
    """Posterior parameters ``<name>_mu`` / ``<name>_rho`` of a layer's weight and bias, and its prior.

    Subclasses name the attributes they copy from the deterministic layer
    in ``_COPIED`` and compute their output in ``forward`` from :meth:`sample`.
    """

    _COPIED = ()

    def _init_from(self, layer, *, prior_sigma=1.0, prior_pi=0.5, rho_init=-5.0):
        super().__init__()
        self.prior_sigmas, self.prior_pi = check_prior(prior_sigma, prior_pi)
        check_scalar(rho_init, "rho_init", numbers.Real)
        self.names = ("weight",) if layer.bias is None else ("weight", "bias")
        for name in self.names:
            value = getattr(layer, name).detach()
            self.register_parameter(f"{name}_mu", nn.Parameter(value.clone()))
            self.register_parameter(f"{name}_rho", nn.Parameter(torch.full_like(value, float(rho_init))))
        for name in self._COPIED:
            setattr(self, name, getattr(layer, name))
        #: Fixed ``eps`` per parameter name (set by :func:`posterior_draw`), or None.
        self.noise = None
        self._drawn = None

    @classmethod
    def from_layer(cls, layer, **prior):
        """A Bayesian copy of the deterministic ``layer``: its weights become the posterior means."""
        new = cls.__new__(cls)
        new._init_from(layer, **prior)
        return new

    def sigma(self, name):
        """``softplus(rho)``, the posterior standard deviation of parameter ``name``."""
        return F.softplus(getattr(self, f"{name}_rho"))

    def sample(self):
        """The weights of one forward pass, ``(weight, bias)``: a draw or the posterior mean."""
        weights = {}
        for name in self.names:
            mu = getattr(self, f"{name}_mu")
            if self.training:
                eps = torch.randn_like(mu)
            elif self.noise is not None:
                eps = self.noise[name]
            else:
                weights[name] = mu
                continue
            weights[name] = mu + self.sigma(name) * eps
        if self.training and len(self.prior_sigmas) == 2:
            self._drawn = weights  # the Monte-Carlo KL is taken at these weights
        return weights["weight"], weights.get("bias")

    def kl(self):
        """``KL(q || prior)`` of this layer's weights (see the module docstring)."""
        if len(self.prior_sigmas) == 1:
            sigma_p = self.prior_sigmas[0]
            return sum(
                (math.log(sigma_p) - torch.log(sigma) + (sigma.pow(2) + mu.pow(2)) / (2 * sigma_p**2) - 0.5).sum()
                for mu, sigma in ((getattr(self, f"{n}_mu"), self.sigma(n)) for n in self.names)
            )
        drawn, self._drawn = self._drawn, None
        if drawn is None:  # no training pass since the last KL: draw once
            drawn = {n: getattr(self, f"{n}_mu") + self.sigma(n) * torch.randn_like(self.sigma(n))
                     for n in self.names}
        s1, s2 = self.prior_sigmas
        total = 0.0
        for name in self.names:
            w, mu, sigma = drawn[name], getattr(self, f"{name}_mu"), self.sigma(name)
            log_q = -_LOG_SQRT_2PI - torch.log(sigma) - (w - mu).pow(2) / (2 * sigma.pow(2))
            log_p = torch.logaddexp(
                math.log(self.prior_pi) + _gaussian_log_prob(w, s1),
                math.log1p(-self.prior_pi) + _gaussian_log_prob(w, s2),
            )
            total = total + (log_q - log_p).sum()
        return total

    def extra_repr(self):
        if len(self.prior_sigmas) == 1:
            prior = f"prior=N(0, {self.prior_sigmas[0]}^2)"
        else:
            s1, s2 = self.prior_sigmas
            prior = f"prior={self.prior_pi} N(0, {s1}^2) + {1 - self.prior_pi:.3g} N(0, {s2}^2)"
        return ", ".join(f"{name}={getattr(self, name)}" for name in self._COPIED) + ", " + prior


class BayesianLinear(_BayesianLayer):
    """``nn.Linear`` with a Gaussian posterior over its weights (Bayes by Backprop).

    Parameters
    ----------
    in_features, out_features : int
    bias : bool, default=True
    prior_sigma : float or (float, float), default=1.0
        Standard deviation of the Gaussian prior, or ``(sigma_1, sigma_2)``
        of a scale-mixture prior.
    prior_pi : float, default=0.5
        Weight of ``sigma_1`` in a scale mixture.
    rho_init : float, default=-5.0
        Initial ``rho`` of every weight: ``sigma = softplus(-5) = 0.0067``.

    Examples
    --------
    >>> import torch
    >>> from skal.models import BayesianLinear
    >>> layer = BayesianLinear(4, 2)
    >>> layer(torch.ones(3, 4)).shape
    torch.Size([3, 2])
    >>> bool(layer.kl() > 0)
    True
    """

    _COPIED = ("in_features", "out_features")

    def __init__(self, in_features, out_features, bias=True, **prior):
        self._init_from(nn.Linear(in_features, out_features, bias=bias), **prior)

    def forward(self, x):
        weight, bias = self.sample()
        return F.linear(x, weight, bias)


class BayesianConv2d(_BayesianLayer):
    """``nn.Conv2d`` with a Gaussian posterior over its kernels (Bayes by Backprop).

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or tuple
    stride, padding, dilation, groups, bias
        As in ``nn.Conv2d`` (zero padding).
    prior_sigma, prior_pi, rho_init
        As in :class:`BayesianLinear`.

    Examples
    --------
    >>> import torch
    >>> from skal.models import BayesianConv2d
    >>> BayesianConv2d(1, 4, 3, padding=1)(torch.ones(2, 1, 8, 8)).shape
    torch.Size([2, 4, 8, 8])
    """

    _COPIED = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups")

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, **prior):
        self._init_from(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                      dilation=dilation, groups=groups, bias=bias),
            **prior,
        )

    @classmethod
    def from_layer(cls, layer, **prior):
        if layer.padding_mode != "zeros":
            raise ValueError(
                f"Conv2d with padding_mode={layer.padding_mode!r}: BayesianConv2d pads with zeros "
                "only; use padding_mode='zeros'."
            )
        return super().from_layer(layer, **prior)

    def forward(self, x):
        weight, bias = self.sample()
        return F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)


_CONVERTERS = {nn.Linear: BayesianLinear, nn.Conv2d: BayesianConv2d}


def bayesian_module(module, *, prior_sigma=1.0, prior_pi=0.5, rho_init=-5.0):
    """A copy of ``module`` whose ``nn.Linear`` and ``nn.Conv2d`` layers are Bayesian.

    Each such layer becomes a :class:`BayesianLinear` / :class:`BayesianConv2d`
    under the same name, its posterior means initialised from the layer's
    weights (so the module's own initialisation carries over) and every
    ``rho`` to ``rho_init``. Other layers (BatchNorm, ...) stay as they
    are. The caller's module is not modified.

    Parameters
    ----------
    module : torch.nn.Module
        For example skal's :class:`~skal.models.MLP`,
        :class:`~skal.models.GalCNN`, :class:`~skal.models.SmallCNN`.
    prior_sigma, prior_pi, rho_init
        As in :class:`BayesianLinear`.

    Returns
    -------
    module : torch.nn.Module

    Examples
    --------
    >>> from skal.models import MLP, bayesian_module
    >>> net = bayesian_module(MLP(n_features=4, n_classes=3))
    >>> type(net.head).__name__, type(net.body[0]).__name__
    ('BayesianLinear', 'BayesianLinear')
    """
    check_prior(prior_sigma, prior_pi)
    prior = {"prior_sigma": prior_sigma, "prior_pi": prior_pi, "rho_init": rho_init}
    module = copy.deepcopy(module)
    if type(module) in _CONVERTERS:
        return _CONVERTERS[type(module)].from_layer(module, **prior)
    for name, child in list(module.named_children()):
        if type(child) in _CONVERTERS:
            setattr(module, name, _CONVERTERS[type(child)].from_layer(child, **prior))
        else:
            setattr(module, name, bayesian_module(child, **prior))
    return module


def bayesian_layers(module):
    """The Bayesian layers of ``module``, in registration order."""
    return [m for m in module.modules() if isinstance(m, _BayesianLayer)]


def kl_divergence(module):
    """``KL(q || prior)`` summed over the Bayesian layers of ``module`` (a scalar tensor).

    Examples
    --------
    >>> from skal.models import MLP, bayesian_module, kl_divergence
    >>> kl_divergence(bayesian_module(MLP(n_features=4, n_classes=3))).ndim
    0
    """
    layers = bayesian_layers(module)
    if not layers:
        raise ValueError(
            f"{type(module).__name__} has no Bayesian layer: convert it with bayesian_module "
            "(it needs nn.Linear or nn.Conv2d layers)."
        )
    return sum(layer.kl() for layer in layers)


@contextlib.contextmanager
def posterior_draw(module, seed, index):
    """Fix draw ``index`` of ``seed`` as the weights of every Bayesian layer of ``module``.

    Inside the block, forward passes in evaluation mode use
    ``w = mu + sigma * eps`` with ``eps`` drawn from a generator seeded by
    ``(seed, layer, index)`` only: draw ``index`` is one network, the same
    for every row, batch and call.

    Examples
    --------
    >>> import torch
    >>> from skal.models import MLP, bayesian_module
    >>> from skal.models._bayesian_layers import posterior_draw
    >>> net = bayesian_module(MLP(n_features=4, n_classes=3)).eval()
    >>> x = torch.ones(2, 4)
    >>> with posterior_draw(net, seed=0, index=1):
    ...     a = net(x)
    >>> with posterior_draw(net, seed=0, index=1):
    ...     b = net(x[:1])
    >>> torch.allclose(a[:1], b)  # the same network for every row (up to BLAS rounding)
    True
    """
    layers = bayesian_layers(module)
    try:
        for position, layer in enumerate(layers):
            state = np.random.SeedSequence([int(seed), position, int(index)]).generate_state(1)[0]
            generator = torch.Generator().manual_seed(int(state))
            layer.noise = {
                name: torch.randn(getattr(layer, f"{name}_mu").shape, generator=generator).to(
                    getattr(layer, f"{name}_mu")
                )
                for name in layer.names
            }
        yield module
    finally:
        for layer in layers:
            layer.noise = None
