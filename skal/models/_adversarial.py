"""Adversarial labeled-vs-unlabeled models: VAAL (Sinha et al. 2019) and MAL (Ebrahimi et al. 2021).

Both learn a representation of labeled *and* unlabeled points and a
discriminator ``D`` that tells, from that representation, whether a point
is labeled. A pool point that ``D`` confidently calls unlabeled is unlike
anything labeled: that is what the strategies
:func:`~skal.strategies.vaal` and :func:`~skal.strategies.mal` query.

* :class:`VAAL`: a β-VAE on all points whose encoder also tries to make
  ``D`` call every latent mean "labeled"; ``D`` is trained on the means.
* :class:`MAL`: an encoder ``F`` to ℓ2-normalised features and a cosine
  classifier ``C`` (temperature T) trained with cross-entropy on the
  labeled points and a minimax entropy game on the unlabeled ones (``F``
  minimises the entropy of ``C``'s predictions, ``C`` maximises it, through
  a gradient-reversal layer); ``D`` is trained on ``F``'s features.

Both follow scikit-learn's convention for semi-supervised data: ``fit(X,
y)`` with ``y = -1`` for the unlabeled rows. Images ``(n, C, H, W)`` get a
small convolutional encoder, other inputs (flattened) a multi-layer
perceptron; scale tabular features first (a ``StandardScaler``). Training
draws ``n_steps`` minibatches of labeled and of unlabeled rows, so its cost
does not grow with the pool.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from .._docstrings import fill_sections
from .._validation import check_scalar
from ._base import SEED_MAX, encode_labels, first_fit_classes, isolated_rng, resolve_device

__all__ = ["MAL", "VAAL"]

#: Rows encoded at once at prediction.
_PREDICT_ROWS = 1024


def _encoder(input_shape, out_features, hidden_units):
    """A conv net for images ``(C, H, W)`` of at least 4x4, else an MLP on the flattened rows."""
    if len(input_shape) == 3 and min(input_shape[1:]) >= 4:
        conv = nn.Sequential(
            nn.Conv2d(input_shape[0], 16, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 4, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            width = conv(torch.zeros((1, *input_shape))).shape[1]
        return nn.Sequential(conv, nn.Linear(width, hidden_units), nn.ReLU(),
                             nn.Linear(hidden_units, out_features))
    return nn.Sequential(
        nn.Flatten(), nn.Linear(int(np.prod(input_shape)), hidden_units), nn.ReLU(),
        nn.Linear(hidden_units, hidden_units), nn.ReLU(), nn.Linear(hidden_units, out_features),
    )


def _discriminator(in_features, hidden_units):
    """``D``: a logit of "labeled" from a representation."""
    return nn.Sequential(
        nn.Linear(in_features, hidden_units), nn.ReLU(),
        nn.Linear(hidden_units, hidden_units), nn.ReLU(), nn.Linear(hidden_units, 1),
    )


class _ReverseGradient(torch.autograd.Function):
    """Identity forward, negated gradient backward (Ganin & Lempitsky 2015)."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -grad


def _bce(logits, target):
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(target)))


def _unlabeled(y):
    """The rows marked -1 (in a numeric or an object array of labels)."""
    if y.dtype.kind in "biuf":
        return y == -1
    return np.array([isinstance(v, numbers.Number) and v == -1 for v in y.tolist()], dtype=bool)


class _Cycler:
    """Minibatches of positions drawn without replacement, reshuffled when exhausted."""

    def __init__(self, positions, batch_size, rng):
        self.positions = positions
        self.size = min(batch_size, len(positions))
        self.rng = rng
        self.order = rng.permutation(positions)
        self.at = 0

    def next(self):
        if self.at + self.size > len(self.order):
            self.order = self.rng.permutation(self.positions)
            self.at = 0
        batch = self.order[self.at : self.at + self.size]
        self.at += self.size
        return batch


_COMMON_DOCS = """\
n_steps : int, default=100
    Training steps; each draws a minibatch of labeled and one of
    unlabeled rows.
batch_size : int, default=64
    Rows of each minibatch (fewer when a set is smaller).
lr : float, default=5e-4
    Adam's learning rate, for every part.
device : str or torch.device, default='auto'
    ``'auto'`` is CUDA when present, else CPU.
random_state : int, RandomState instance or None, default=None
    Seeds the initial weights, the minibatches and the VAE noise, in a
    forked torch RNG."""


class _BaseAdversarial(BaseEstimator):
    """What VAAL and MAL share: the semi-supervised ``fit``, seeding, minibatches, ``D``.

    Subclasses build their networks in ``_build(input_shape, n_classes)``
    and take one training step in ``_step(xl, yl, xu)``; ``_represent(x)``
    is what ``D`` and :meth:`transform` read.

    Warning: this class should not be used directly. Use derived classes
    instead.
    """

    #: Whether ``fit`` needs class labels for the labeled rows.
    _needs_classes = False

    def _check_params(self):
        check_scalar(self.latent_dim, "latent_dim", numbers.Integral, min_val=1)
        check_scalar(self.hidden_units, "hidden_units", numbers.Integral, min_val=1)
        check_scalar(self.n_steps, "n_steps", numbers.Integral, min_val=0)
        check_scalar(self.batch_size, "batch_size", numbers.Integral, min_val=1)
        check_scalar(self.lr, "lr", numbers.Real, min_val=0, include_boundaries="neither")

    def fit(self, X, y):
        """Train on labeled and unlabeled rows; ``y == -1`` marks the unlabeled ones.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, C, H, W)
        y : array-like of shape (n_samples,)
            Labels of the labeled rows, -1 for the unlabeled ones
            (scikit-learn's semi-supervised convention).

        Returns
        -------
        self
        """
        self._check_params()
        X = validate_data(self, X, dtype=np.float32, allow_nd=True, ensure_min_features=1)
        y = column_or_1d(y, warn=True)
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels.")
        unlabeled = _unlabeled(y)
        if unlabeled.all() or not unlabeled.any():
            raise ValueError(
                f"{type(self).__name__} needs labeled and unlabeled rows (y == -1 marks the "
                f"unlabeled ones); got {int((~unlabeled).sum())} labeled and "
                f"{int(unlabeled.sum())} unlabeled."
            )
        self.input_shape_ = X.shape[1:]
        codes = None
        if self._needs_classes:
            self.classes_ = first_fit_classes(y[~unlabeled], getattr(self, "classes", None))
            codes = encode_labels(y[~unlabeled], self.classes_)
        device = resolve_device(self.device)
        self.device_ = device
        seed = int(check_random_state(self.random_state).randint(SEED_MAX))
        rng = np.random.RandomState(seed)
        labeled_rows = np.flatnonzero(~unlabeled)
        with isolated_rng(device):
            torch.manual_seed(seed)
            self._build(X.shape[1:], None if codes is None else len(self.classes_))
            self._modules_to(device)
            lab = _Cycler(np.arange(len(labeled_rows)), self.batch_size, rng)
            unl = _Cycler(np.flatnonzero(unlabeled), self.batch_size, rng)
            for _ in range(self.n_steps):
                il = lab.next()
                xl = torch.as_tensor(X[labeled_rows[il]], device=device)
                xu = torch.as_tensor(X[unl.next()], device=device)
                yl = None if codes is None else torch.as_tensor(codes[il], device=device)
                self._step(xl, yl, xu)
        for module in self._modules():
            module.eval()
        return self

    def _modules(self):
        return [getattr(self, name) for name in self._module_names]

    def _modules_to(self, device):
        for module in self._modules():
            module.to(device)

    def _predict(self, X, fn):
        """``fn`` of the rows of X, chunk by chunk, without gradients; a float64 array."""
        check_is_fitted(self, "discriminator_")
        X = validate_data(self, X, dtype=np.float32, allow_nd=True, reset=False)
        if X.shape[1:] != self.input_shape_:
            raise ValueError(
                f"X has samples of shape {X.shape[1:]}, but {type(self).__name__} was fitted on "
                f"samples of shape {self.input_shape_}."
            )
        out = []
        with isolated_rng(self.device_), torch.no_grad():
            for start in range(0, len(X), _PREDICT_ROWS):
                rows = torch.as_tensor(np.ascontiguousarray(X[start : start + _PREDICT_ROWS]),
                                       device=self.device_)
                out.append(fn(rows).double().cpu())
        return torch.cat(out).numpy()

    def transform(self, X):
        """The representation ``D`` reads.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        Z : ndarray of shape (n_samples, latent_dim)
        """
        return self._predict(X, self._represent)

    def predict_labeled_proba(self, X):
        """``D``'s probability that each row is labeled.

        Low values mark points unlike the labeled set: the ones to query.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        proba : ndarray of shape (n_samples,)
        """
        return self._predict(
            X, lambda x: torch.sigmoid(self.discriminator_(self._represent(x)).squeeze(1))
        )


class VAAL(_BaseAdversarial):
    """Variational adversarial active learning (Sinha et al. 2019): β-VAE and discriminator.

    A β-VAE encodes every point (labeled and unlabeled) to a Gaussian
    latent and reconstructs it; a discriminator ``D`` learns from the latent
    mean whether a point is labeled, while the VAE's encoder learns to make
    it call every point labeled. Each step, on a minibatch of labeled
    rows ``x_l`` and one of unlabeled rows ``x_u``:

    * VAE: ``rec(x_l) + rec(x_u) + β (KL_l + KL_u) + λ (BCE(D(μ_l), 1) + BCE(D(μ_u), 1))``,
      with ``rec`` the squared reconstruction error summed over the input
      values and KL the divergence to N(0, I) summed over the latent
      dimensions (the β-VAE's negative evidence lower bound of a row, for a
      Gaussian decoder), each averaged over its minibatch;
    * ``D``: ``BCE(D(μ_l), 1) + BCE(D(μ_u), 0)`` on the same minibatch's
      means (computed before the VAE's update), so labeled and unlabeled
      weigh the same whatever the sizes of the two sets.

    :meth:`predict_labeled_proba` is ``D``'s output; VAAL queries its
    lowest values (:func:`skal.strategies.vaal`). The task model plays no
    part.

    Parameters
    ----------
    latent_dim : int, default=32
        Size of the latent space (the paper's 32 on CIFAR).
    hidden_units : int, default=128
        Width of the encoder's, decoder's and discriminator's hidden layers.
    beta : float, default=1.0
        Weight β of the KL term.
    adversary_weight : float, default=1.0
        λ, the weight of the encoder's adversarial term.
    {common}

    Attributes
    ----------
    encoder_, decoder_, discriminator_ : torch.nn.Module
        The trained networks (the encoder outputs ``[μ, log σ²]``).
    input_shape_ : tuple of int
    n_features_in_ : int
    device_ : str
        The device the networks are on.

    References
    ----------
    S. Sinha, S. Ebrahimi, T. Darrell. Variational Adversarial Active
    Learning. ICCV 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from skal.models import VAAL
    >>> rng = np.random.RandomState(0)
    >>> X = np.concatenate([rng.normal(0, 1, (60, 4)), rng.normal(3, 1, (60, 4))])
    >>> y = np.r_[np.zeros(30), -np.ones(90)]  # 30 labeled rows, all from the first blob
    >>> vaal = VAAL(latent_dim=4, n_steps=200, random_state=0).fit(X, y)
    >>> p = vaal.predict_labeled_proba(X)
    >>> bool(p[30:60].mean() > p[60:].mean())  # the unlabeled blob looks least labeled
    True
    """

    _module_names = ("encoder_", "decoder_", "discriminator_")

    def __init__(self, *, latent_dim=32, hidden_units=128, beta=1.0, adversary_weight=1.0,
                 n_steps=100, batch_size=64, lr=5e-4, device="auto", random_state=None):
        self.latent_dim = latent_dim
        self.hidden_units = hidden_units
        self.beta = beta
        self.adversary_weight = adversary_weight
        self.n_steps = n_steps
        self.batch_size = batch_size
        self.lr = lr
        self.device = device
        self.random_state = random_state

    def _check_params(self):
        super()._check_params()
        check_scalar(self.beta, "beta", numbers.Real, min_val=0)
        check_scalar(self.adversary_weight, "adversary_weight", numbers.Real, min_val=0)

    def _build(self, input_shape, n_classes):
        self.encoder_ = _encoder(input_shape, 2 * self.latent_dim, self.hidden_units)
        self.decoder_ = nn.Sequential(
            nn.Linear(self.latent_dim, self.hidden_units), nn.ReLU(),
            nn.Linear(self.hidden_units, int(np.prod(input_shape))),
        )
        self.discriminator_ = _discriminator(self.latent_dim, self.hidden_units)
        vae = list(self.encoder_.parameters()) + list(self.decoder_.parameters())
        self._vae_optimizer = torch.optim.Adam(vae, lr=self.lr)
        self._d_optimizer = torch.optim.Adam(self.discriminator_.parameters(), lr=self.lr)

    def _represent(self, x):
        return self.encoder_(x)[:, : self.latent_dim]

    def _step(self, xl, yl, xu):
        # labeled and unlabeled rows go through the networks together
        n = len(xl)
        x = torch.cat([xl, xu])
        mu, logvar = self.encoder_(x).chunk(2, dim=1)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        rec = ((self.decoder_(z).view_as(x) - x) ** 2).flatten(1).sum(dim=1)
        kl = (-0.5 * (1 + logvar - mu**2 - logvar.exp())).sum(dim=1)
        vae = rec + self.beta * kl
        d = self.discriminator_
        logits = d(mu).squeeze(1)
        adversarial = _bce(logits[:n], 1) + _bce(logits[n:], 1)
        self._vae_optimizer.zero_grad()
        (vae[:n].mean() + vae[n:].mean() + self.adversary_weight * adversarial).backward()
        self._vae_optimizer.step()
        logits = d(mu.detach()).squeeze(1)
        self._d_optimizer.zero_grad()
        (_bce(logits[:n], 1) + _bce(logits[n:], 0)).backward()
        self._d_optimizer.step()


class MAL(ClassifierMixin, _BaseAdversarial):
    """Minimax active learning (Ebrahimi et al. 2021): minimax entropy and a discriminator.

    An encoder ``F`` maps every point to an ℓ2-normalised feature ``f``; a
    cosine classifier ``C`` (weights ``W``, normalised rows) gives
    ``softmax(W f / T)``. Each step, on a minibatch of labeled rows ``x_l``
    (labels ``y_l``) and one of unlabeled rows ``x_u``:

    * ``F`` and ``C``: ``CE(C(F(x_l)), y_l) - λ H(C(F(x_u)))`` for ``C``
      and ``CE + λ H`` for ``F``: ``C`` *maximises* the entropy of its
      predictions on unlabeled points, ``F`` *minimises* it (one backward
      pass through a gradient-reversal layer, as in Saito et al.'s minimax
      entropy), which draws unlabeled features towards the classes;
    * ``D``: ``BCE(D(f_l), 1) + BCE(D(f_u), 0)`` on the same minibatch's
      features (detached), labeled and unlabeled weighed the same.

    :func:`skal.strategies.mal` queries, among the pool points that ``D``
    predicts unlabeled (:meth:`predict_labeled_proba` below 0.5), those of
    highest entropy under ``C`` (:meth:`predict_proba`).

    Parameters
    ----------
    latent_dim : int, default=32
        Size d of the normalised features.
    hidden_units : int, default=128
        Width of the encoder's and discriminator's hidden layers.
    temperature : float, default=0.05
        T of the cosine classifier (Saito et al.'s 0.05).
    entropy_weight : float, default=0.1
        λ of the entropy game (Saito et al.'s 0.1).
    classes : array-like, default=None
        All labels; by default those of the labeled rows.
    {common}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    encoder_, discriminator_ : torch.nn.Module
    weight_ : torch.nn.Parameter of shape (n_classes, latent_dim)
        ``C``'s weights.
    input_shape_ : tuple of int
    n_features_in_ : int
    device_ : str

    References
    ----------
    S. Ebrahimi, W. Gan, D. Chen, G. Biamby, K. Salahi, M. Laielli, S. Zhu,
    T. Darrell. Minimax Active Learning. arXiv:2012.10467, 2021.
    K. Saito, D. Kim, S. Sclaroff, T. Darrell, K. Saenko. Semi-supervised
    Domain Adaptation via Minimax Entropy. ICCV 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from skal.models import MAL
    >>> rng = np.random.RandomState(0)
    >>> X = np.concatenate([rng.normal(0, 1, (60, 4)), rng.normal(3, 1, (60, 4))])
    >>> y = np.r_[np.zeros(15), -np.ones(45), np.ones(15), -np.ones(45)]
    >>> mal = MAL(latent_dim=4, n_steps=200, random_state=0).fit(X, y)
    >>> mal.predict_proba(X).shape, mal.predict_labeled_proba(X).shape
    ((120, 2), (120,))
    """

    _module_names = ("encoder_", "discriminator_")
    _needs_classes = True

    def __init__(self, *, latent_dim=32, hidden_units=128, temperature=0.05, entropy_weight=0.1,
                 classes=None, n_steps=100, batch_size=64, lr=5e-4, device="auto",
                 random_state=None):
        self.latent_dim = latent_dim
        self.hidden_units = hidden_units
        self.temperature = temperature
        self.entropy_weight = entropy_weight
        self.classes = classes
        self.n_steps = n_steps
        self.batch_size = batch_size
        self.lr = lr
        self.device = device
        self.random_state = random_state

    def _check_params(self):
        super()._check_params()
        check_scalar(self.temperature, "temperature", numbers.Real, min_val=0,
                     include_boundaries="neither")
        check_scalar(self.entropy_weight, "entropy_weight", numbers.Real, min_val=0)

    def _build(self, input_shape, n_classes):
        self.encoder_ = _encoder(input_shape, self.latent_dim, self.hidden_units)
        self.weight_ = nn.Parameter(torch.randn(n_classes, self.latent_dim) * 0.1)
        self.discriminator_ = _discriminator(self.latent_dim, self.hidden_units)
        model = list(self.encoder_.parameters()) + [self.weight_]
        self._optimizer = torch.optim.Adam(model, lr=self.lr)
        self._d_optimizer = torch.optim.Adam(self.discriminator_.parameters(), lr=self.lr)

    def _modules_to(self, device):
        super()._modules_to(device)
        self.weight_.data = self.weight_.data.to(device)

    def _represent(self, x):
        return F.normalize(self.encoder_(x), dim=1)

    def _logits(self, f):
        return f @ F.normalize(self.weight_, dim=1).T / self.temperature

    def _step(self, xl, yl, xu):
        n = len(xl)
        f = self._represent(torch.cat([xl, xu]))
        ce = F.cross_entropy(self._logits(f[:n]), yl)
        p_u = torch.softmax(self._logits(_ReverseGradient.apply(f[n:])), dim=1)
        negative_entropy = (p_u * torch.log(p_u + 1e-12)).sum(dim=1).mean()
        self._optimizer.zero_grad()
        (ce + self.entropy_weight * negative_entropy).backward()
        self._optimizer.step()
        logits = self.discriminator_(f.detach()).squeeze(1)
        self._d_optimizer.zero_grad()
        (_bce(logits[:n], 1) + _bce(logits[n:], 0)).backward()
        self._d_optimizer.step()

    def predict_proba(self, X):
        """``C``'s class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``.
        """
        return self._predict(X, lambda x: torch.softmax(self._logits(self._represent(x)), dim=1))

    def predict(self, X):
        """The label of highest probability under ``C``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


VAAL.__doc__ = fill_sections(VAAL.__doc__, {"common": _COMMON_DOCS})
MAL.__doc__ = fill_sections(MAL.__doc__, {"common": _COMMON_DOCS})
