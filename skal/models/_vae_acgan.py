"""A VAE-ACGAN (Tran et al. 2019): encoder, class-conditional generator, discriminator with a classifier.

The generative model of Bayesian Generative Active Deep Learning: a
variational auto-encoder whose decoder is also the generator of an
auxiliary-classifier GAN. The encoder ``e`` maps an image to a Gaussian
``q(z|x)``; the generator ``g(z, y)`` maps a code and a class to an image;
the discriminator ``d`` tells real images from generated ones and also
classifies them. Trained on a labeled set, ``g(e(x), y)`` is an image close
to ``x`` (the VAE's reconstruction) that looks real and of class ``y`` (the
ACGAN's two terms).
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .._interrupt import propagate_interrupt
from .._validation import check_finite, check_scalar
from ._base import SEED_MAX, encode_labels, first_fit_classes, isolated_rng, resolve_device

__all__ = ["VAEACGAN"]


def _downsampling(channels, width):
    """Two stride-2 convolutions: (C, H, W) -> (2 width, H/4, W/4), flattened."""
    return nn.Sequential(
        nn.Conv2d(channels, width, 4, stride=2, padding=1),
        nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),
        nn.LeakyReLU(0.2),
        nn.Flatten(),
    )


class _Encoder(nn.Module):
    def __init__(self, shape, width, latent_dim):
        super().__init__()
        channels, height, wide = shape
        self.body = _downsampling(channels, width)
        self.head = nn.Linear(2 * width * (height // 4) * (wide // 4), 2 * latent_dim)

    def forward(self, x):
        mu, logvar = self.head(self.body(x)).chunk(2, dim=1)
        return mu, logvar.clamp(-10.0, 10.0)


class _Generator(nn.Module):
    def __init__(self, shape, width, latent_dim, n_classes):
        super().__init__()
        channels, height, wide = shape
        self.n_classes = n_classes
        self.grid = (2 * width, height // 4, wide // 4)
        self.fc = nn.Sequential(nn.Linear(latent_dim + n_classes, int(np.prod(self.grid))), nn.ReLU())
        self.body = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1),
            nn.Sigmoid(),
        )

    def forward(self, z, codes):
        onehot = F.one_hot(codes, self.n_classes).to(z.dtype)
        return self.body(self.fc(torch.cat([z, onehot], dim=1)).view(-1, *self.grid))


class _Discriminator(nn.Module):
    def __init__(self, shape, width, n_classes):
        super().__init__()
        channels, height, wide = shape
        self.body = _downsampling(channels, width)
        features = 2 * width * (height // 4) * (wide // 4)
        self.adversarial = nn.Linear(features, 1)
        self.auxiliary = nn.Linear(features, n_classes)

    def forward(self, x):
        h = self.body(x)
        return self.adversarial(h).squeeze(1), self.auxiliary(h)


class VAEACGAN(BaseEstimator):
    """VAE-ACGAN: a VAE whose decoder is a class-conditional GAN generator.

    Images ``x`` of class ``y`` train three networks jointly (Tran et al.
    2019): the encoder ``e`` (``q(z|x)``, Gaussian), the generator ``g(z, y)``
    and the discriminator ``d``, which outputs a real/fake logit and class
    logits (ACGAN). Each step, on a minibatch of real images, makes a
    reconstruction ``g(z, y)`` with ``z ~ q(z|x)`` and a sample
    ``g(z_p, y_p)`` with ``z_p ~ N(0, I)`` (``y_p`` the minibatch's labels
    shuffled), then

    * ``d`` minimises: real/fake cross-entropy (real images real, both
      generated kinds fake) + class cross-entropy on all three kinds;
    * ``e`` and ``g`` minimise: ``reconstruction_weight`` × the VAE's
      negative ELBO per pixel (binary cross-entropy of the reconstruction
      plus the KL of ``q(z|x)`` from ``N(0, I)``) + the generated images'
      real/fake cross-entropy as if real + their class cross-entropy.

    Adam with betas (0.5, 0.999), as in the paper.

    Parameters
    ----------
    latent_dim : int, default=16
        Size of the code ``z``.
    width : int, default=16
        Channels of the first convolution of each network (the second has
        twice as many).
    n_steps : int, default=200
        Gradient steps per call to ``fit`` or ``partial_fit``.
    batch_size : int, default=64
        Real images per step (all of them when fewer).
    lr : float, default=2e-3
        Adam's learning rate for both sides. The paper's 2e-4 suits its long
        GPU training; 2e-3 learns in the few hundred steps per round a CPU
        affords (the tests check that, on 28x28 MNIST, twins generated after
        a few hundred steps are classified as their class).
    reconstruction_weight : float, default=10.0
        Weight of the VAE term against the adversarial and class terms;
        larger keeps ``g(e(x), y)`` closer to ``x``.
    classes : array-like, default=None
        All labels the generator will condition on; default: those of the
        first fit's ``y``.
    device : str or torch.device, default='auto'
        Torch device; ``'auto'`` is CUDA when present, else CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the minibatches and the codes, through a
        forked torch RNG.
    verbose : int, default=0
        Print the losses every 100 steps when > 0.

    Attributes
    ----------
    classes_ : ndarray of shape (K,)
    input_shape_ : tuple of int
        ``(C, H, W)`` of the images.
    encoder_, generator_, discriminator_ : torch.nn.Module
    n_steps_trained_ : int
        Gradient steps since the networks were built.
    losses_ : dict of str to float
        ``discriminator`` and ``generator`` losses of the last step.

    Notes
    -----
    Images must be arrays ``(n, C, H, W)`` with values in [0, 1] (the
    generator ends with a sigmoid) and ``H``, ``W`` multiples of 4 (two
    stride-2 convolutions): MNIST's 28x28, scikit-learn's 8x8 digits,
    CIFAR's 32x32.

    References
    ----------
    T. Tran, T.-T. Do, I. Reid, G. Carneiro. Bayesian Generative Active
    Deep Learning. ICML 2019 (arXiv:1904.11643).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skal.models import VAEACGAN
    >>> X, y = load_digits(return_X_y=True)
    >>> images = (X / 16).reshape(-1, 1, 8, 8)
    >>> gan = VAEACGAN(n_steps=20, width=8, random_state=0).fit(images[:100], y[:100])
    >>> gan.reconstruct(images[:3], y[:3]).shape
    (3, 1, 8, 8)
    >>> gan.sample([0, 7]).shape
    (2, 1, 8, 8)
    """

    def __init__(
        self,
        *,
        latent_dim=16,
        width=16,
        n_steps=200,
        batch_size=64,
        lr=2e-3,
        reconstruction_weight=10.0,
        classes=None,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.latent_dim = latent_dim
        self.width = width
        self.n_steps = n_steps
        self.batch_size = batch_size
        self.lr = lr
        self.reconstruction_weight = reconstruction_weight
        self.classes = classes
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # -- checks ----------------------------------------------------------------
    def _check_params(self):
        for name in ("latent_dim", "width", "batch_size"):
            check_scalar(getattr(self, name), name, numbers.Integral, min_val=1)
        check_scalar(self.n_steps, "n_steps", numbers.Integral, min_val=0)
        check_scalar(self.lr, "lr", numbers.Real, min_val=0, include_boundaries="neither")
        check_scalar(self.reconstruction_weight, "reconstruction_weight", numbers.Real, min_val=0)
        check_scalar(self.verbose, "verbose", (numbers.Integral, bool), min_val=0)

    def _check_images(self, X, *, reset):
        X = check_array(X, allow_nd=True, dtype=np.float32, input_name="X")
        if X.ndim != 4:
            raise ValueError(
                f"X has shape {X.shape}; VAEACGAN generates images: pass an array of shape "
                "(n, channels, height, width), e.g. X.reshape(-1, 1, 28, 28)."
            )
        if reset:
            if X.shape[2] % 4 or X.shape[3] % 4:
                raise ValueError(
                    f"images of {X.shape[2]}x{X.shape[3]} pixels: height and width must be "
                    "multiples of 4 (two stride-2 convolutions); pad or crop them."
                )
        elif X.shape[1:] != self.input_shape_:
            raise ValueError(
                f"X has images of shape {X.shape[1:]}, but VAEACGAN was fitted on images "
                f"of shape {self.input_shape_}."
            )
        check_finite(X, name="X")
        if X.size and (X.min() < 0 or X.max() > 1):
            raise ValueError(
                f"X has values in [{X.min():.3g}, {X.max():.3g}]; the generator makes images "
                "in [0, 1]: scale X to [0, 1] first (e.g. X / 255)."
            )
        return X

    @staticmethod
    def _codes(y, n_rows, classes):
        y = np.asarray(y)
        if y.shape != (n_rows,):
            raise ValueError(f"y has shape {y.shape}; pass one label per image ({n_rows}).")
        return encode_labels(y, classes)

    # -- fitting ----------------------------------------------------------------
    def fit(self, X, y):
        """Build the three networks and train them ``n_steps`` steps on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, C, H, W)
            Images in [0, 1].
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        return self._fit(X, y, reset=True, classes=self.classes)

    def partial_fit(self, X, y, classes=None):
        """Train ``n_steps`` more steps from the current weights (the first call builds them).

        Parameters
        ----------
        X : array-like of shape (n_samples, C, H, W)
        y : array-like of shape (n_samples,)
            Labels among ``classes_`` (declare them all up front with ``classes``).
        classes : array-like, default=None
            All labels, read on the first call only; None uses the
            ``classes`` parameter.

        Returns
        -------
        self
        """
        declared = self.classes if classes is None else classes
        return self._fit(X, y, reset=not hasattr(self, "generator_"), classes=declared)

    def _fit(self, X, y, *, reset, classes):
        self._check_params()
        X = self._check_images(X, reset=reset)
        classes = first_fit_classes(y, classes) if reset else self.classes_
        codes = self._codes(y, len(X), classes)
        device = resolve_device(self.device)
        seed = int(check_random_state(self.random_state).randint(SEED_MAX))
        with isolated_rng(device):
            torch.manual_seed(seed)
            if reset:
                self._build(X.shape[1:], classes, device)
            with propagate_interrupt():
                self._train(torch.as_tensor(X, device=device), torch.as_tensor(codes, device=device))
        return self

    def _build(self, shape, classes, device):
        self.classes_ = classes
        self.input_shape_ = tuple(shape)
        K = len(classes)
        self.encoder_ = _Encoder(shape, self.width, self.latent_dim).to(device)
        self.generator_ = _Generator(shape, self.width, self.latent_dim, K).to(device)
        self.discriminator_ = _Discriminator(shape, self.width, K).to(device)
        betas = (0.5, 0.999)
        encoder_generator = [*self.encoder_.parameters(), *self.generator_.parameters()]
        self.optimizer_generator_ = torch.optim.Adam(encoder_generator, lr=self.lr, betas=betas)
        self.optimizer_discriminator_ = torch.optim.Adam(
            self.discriminator_.parameters(), lr=self.lr, betas=betas
        )
        self.n_steps_trained_ = 0
        self.losses_ = {}

    def _train(self, X, codes):
        for net in (self.encoder_, self.generator_, self.discriminator_):
            net.train()
        n = len(X)
        batch = min(self.batch_size, n)
        for optimizer in (self.optimizer_generator_, self.optimizer_discriminator_):
            for group in optimizer.param_groups:
                group["lr"] = self.lr
        for _ in range(self.n_steps):
            rows = torch.randperm(n, device=X.device)[:batch]
            self.losses_ = self._step(X[rows], codes[rows])
            self.n_steps_trained_ += 1
            if self.verbose and self.n_steps_trained_ % 100 == 0:
                print(f"step {self.n_steps_trained_}: " + ", ".join(
                    f"{k} {v:.4f}" for k, v in self.losses_.items()))

    def _step(self, x, y):
        mu, logvar = self.encoder_(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        x_rec = self.generator_(z, y)
        y_p = y[torch.randperm(len(y), device=y.device)]
        x_p = self.generator_(torch.randn_like(mu), y_p)

        # The discriminator: real images real, generated ones fake; classes of all.
        real_adv, real_cls = self.discriminator_(x)
        rec_adv, rec_cls = self.discriminator_(x_rec.detach())
        p_adv, p_cls = self.discriminator_(x_p.detach())
        loss_d = (
            F.binary_cross_entropy_with_logits(real_adv, torch.ones_like(real_adv))
            + 0.5 * F.binary_cross_entropy_with_logits(rec_adv, torch.zeros_like(rec_adv))
            + 0.5 * F.binary_cross_entropy_with_logits(p_adv, torch.zeros_like(p_adv))
            + F.cross_entropy(real_cls, y)
            + 0.5 * (F.cross_entropy(rec_cls, y) + F.cross_entropy(p_cls, y_p))
        )
        self.optimizer_discriminator_.zero_grad()
        loss_d.backward()
        self.optimizer_discriminator_.step()

        # The encoder and generator: the VAE's ELBO per pixel, and fool d with the right class.
        rec_adv, rec_cls = self.discriminator_(x_rec)
        p_adv, p_cls = self.discriminator_(x_p)
        n_pixels = x[0].numel()
        nll = F.binary_cross_entropy(x_rec, x, reduction="sum") / len(x)
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(x)
        loss_g = (
            self.reconstruction_weight * (nll + kl) / n_pixels
            + 0.5 * F.binary_cross_entropy_with_logits(rec_adv, torch.ones_like(rec_adv))
            + 0.5 * F.binary_cross_entropy_with_logits(p_adv, torch.ones_like(p_adv))
            + 0.5 * (F.cross_entropy(rec_cls, y) + F.cross_entropy(p_cls, y_p))
        )
        self.optimizer_generator_.zero_grad()
        loss_g.backward()
        self.optimizer_generator_.step()
        return {"discriminator": loss_d.item(), "generator": loss_g.item()}

    # -- generation ---------------------------------------------------------------
    def _generate(self, codes, z_of, random_state):
        """Images ``g(z, y)`` in chunks, ``z_of(rows, generator)`` giving the codes."""
        check_is_fitted(self, "generator_")
        device = next(self.generator_.parameters()).device
        seed = int(check_random_state(random_state).randint(SEED_MAX))
        out = []
        with isolated_rng(device), torch.no_grad():
            torch.manual_seed(seed)
            self.encoder_.eval()
            self.generator_.eval()
            for start in range(0, len(codes), 256):
                rows = slice(start, start + 256)
                y = torch.as_tensor(codes[rows], device=device)
                out.append(self.generator_(z_of(rows, device), y).cpu().numpy())
        if not out:
            return np.empty((0, *self.input_shape_), dtype=np.float32)
        return np.concatenate(out)

    def reconstruct(self, X, y, random_state=None):
        """``g(e(x), y)``: images close to ``X`` that the generator makes as class ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, C, H, W)
        y : array-like of shape (n_samples,)
            Labels among ``classes_``.
        random_state : int, RandomState instance or None, default=None
            Draws ``z ~ q(z|x)``; the same seed gives the same images.

        Returns
        -------
        images : ndarray of shape (n_samples, C, H, W), float32 in [0, 1]
        """
        check_is_fitted(self, "generator_")
        X = self._check_images(X, reset=False)
        codes = self._codes(y, len(X), self.classes_)

        def posterior(rows, device):
            mu, logvar = self.encoder_(torch.as_tensor(X[rows], device=device))
            return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

        return self._generate(codes, posterior, random_state)

    def sample(self, y, random_state=None):
        """``g(z, y)`` with ``z ~ N(0, I)``: new images of the classes ``y``.

        Parameters
        ----------
        y : array-like of shape (n_samples,)
            Labels among ``classes_``.
        random_state : int, RandomState instance or None, default=None
            Draws the codes.

        Returns
        -------
        images : ndarray of shape (n_samples, C, H, W), float32 in [0, 1]
        """
        check_is_fitted(self, "generator_")
        codes = self._codes(y, len(np.asarray(y)), self.classes_)

        def prior(rows, device):
            return torch.randn(len(codes[rows]), self.latent_dim, device=device)

        return self._generate(codes, prior, random_state)
