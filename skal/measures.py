"""Acquisition measures: pure functions on predictive samples.

Every function takes the class probabilities of S samples (ensemble members,
MC-dropout passes, committee members) for n points, an array of shape
``(S, n, K)``, and returns one score per point, shape ``(n,)``; higher means
"query first". A 2-D ``(n, K)`` array is read as a single sample (S = 1).
NumPy arrays give NumPy arrays and torch tensors give torch tensors (on the
same device), so the measures can run on a GPU next to the model.

Entropies use ``0 log 0 = 0`` (``torch.special.entr`` for tensors; for
NumPy ``p · log(max(p, tiny))``, exact for positive p and twice as fast as
``scipy.special.entr``): one-hot or zero probabilities never produce NaN.
Sums over samples are accumulated one sample at a time, so no measure
allocates more than a few ``(n, K)`` temporaries on top of its input.

Notation: ``p̄ = mean_s p_s``, ``H(p) = -Σ_y p(y) log p(y)`` (nats).

The joint-entropy helpers at the end (:func:`joint_entropy`,
:func:`joint_mutual_information` and the :class:`JointConfigurations` state)
serve BatchBALD (Kirsch et al., 2019).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import entr, logsumexp
from sklearn.utils import check_random_state

__all__ = [
    "JointConfigurations",
    "bald",
    "consensus_entropy",
    "entropy",
    "expected_entropy",
    "joint_entropy",
    "joint_mutual_information",
    "least_confident",
    "margin",
    "max_disagreement",
    "mean_std",
    "var_ratios",
    "vote_entropy",
]


# --------------------------------------------------------------------------- helpers
def _is_torch(P):
    return type(P).__module__.startswith("torch")


def _check_samples(P, name="proba_samples"):
    """Return ``(P, is_torch)`` with P 3-D and floating."""
    if _is_torch(P):
        if P.ndim == 2:
            P = P[None]
        if P.ndim != 3:
            raise ValueError(
                f"{name} must have shape (S, n, K) or (n, K), got {tuple(P.shape)}."
            )
        if not P.is_floating_point():
            P = P.double()
        return P, True
    P = np.asarray(P)
    if P.ndim == 2:
        P = P[None]
    if P.ndim != 3:
        raise ValueError(f"{name} must have shape (S, n, K) or (n, K), got {P.shape}.")
    if P.dtype.kind != "f":
        P = P.astype(np.float64)
    return P, False


def _neg_xlogx(p, out=None):
    """``-p log p`` elementwise, with ``0 log 0 = 0`` (NumPy).

    ``p · log(max(p, tiny))`` is exact for every positive p, and a zero
    multiplies the finite ``log(tiny)`` away: no NaN, no warning. It runs
    about twice as fast as ``scipy.special.entr`` because ``np.log`` is
    vectorised (SIMD) while ``entr`` is a scalar loop.
    """
    out = np.maximum(p, np.finfo(p.dtype).tiny, out=out)
    np.log(out, out=out)
    out *= p
    return np.negative(out, out=out)


def _entropy_rows(p, torch_mode):
    """``H`` along the last axis."""
    if torch_mode:
        import torch

        return torch.special.entr(p).sum(-1)
    return _neg_xlogx(p).sum(-1)


def _mean_proba(P):
    return P.mean(0)


def _expected_entropy(P, torch_mode):
    """``mean_s H(p_s)`` accumulated one sample at a time (one (n, K) buffer)."""
    if torch_mode:
        import torch

        acc = torch.special.entr(P[0])
        buf = torch.empty_like(acc)
        for s in range(1, P.shape[0]):
            acc += torch.special.entr(P[s], out=buf)
        return acc.sum(-1) / P.shape[0]
    acc = _neg_xlogx(P[0])
    buf = np.empty_like(acc)
    for s in range(1, P.shape[0]):
        acc += _neg_xlogx(P[s], out=buf)
    return acc.sum(-1) / P.shape[0]


def _vote_counts(P, torch_mode):
    """``V(y)``: number of samples whose arg-max is y, shape (n, K)."""
    S, n, K = P.shape
    if torch_mode:
        import torch

        votes = P.argmax(-1)  # (S, n)
        counts = torch.zeros((n, K), dtype=P.dtype, device=P.device)
        counts.scatter_add_(1, votes.T, torch.ones_like(votes.T, dtype=P.dtype))
        return counts
    votes = P.argmax(-1)
    counts = np.zeros((n, K), dtype=P.dtype)
    rows = np.arange(n)
    for s in range(S):
        counts[rows, votes[s]] += 1
    return counts


def _clip_nonnegative(x, torch_mode):
    # Differences of entropies can dip below 0 by rounding; the quantities
    # they estimate (mutual information, variance) cannot.
    if torch_mode:
        return x.clamp_min(0)
    return np.maximum(x, 0, out=x)


# --------------------------------------------------------------------------- measures
def least_confident(proba_samples):
    """Least confidence: ``1 - max_y p̄(y|x)``.

    Parameters
    ----------
    proba_samples : ndarray or torch.Tensor of shape (S, n, K) or (n, K)
        Class probabilities of S samples for n points.

    Returns
    -------
    scores : ndarray or torch.Tensor of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from skal.measures import least_confident
    >>> least_confident(np.array([[0.9, 0.1], [0.5, 0.5]]))
    array([0.1, 0.5])
    """
    P, t = _check_samples(proba_samples)
    pbar = _mean_proba(P)
    if t:
        return 1 - pbar.max(-1).values
    return 1 - pbar.max(-1)


def margin(proba_samples):
    """Negative margin: ``-(p̄₁ - p̄₂)`` of the two most probable classes of ``p̄``.

    Small margins mean the model hesitates between two classes; the score is
    the negated margin so that higher still means "query first". With a
    single class, the second probability is taken as 0.

    Parameters
    ----------
    proba_samples : ndarray or torch.Tensor of shape (S, n, K) or (n, K)

    Returns
    -------
    scores : ndarray or torch.Tensor of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from skal.measures import margin
    >>> margin(np.array([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25]]))
    array([-0.5 , -0.05])
    """
    P, t = _check_samples(proba_samples)
    pbar = _mean_proba(P)
    K = pbar.shape[-1]
    if t:
        if K == 1:
            return -pbar[:, 0]
        top = pbar.topk(2, dim=-1).values
        return -(top[:, 0] - top[:, 1])
    if K == 1:
        return -pbar[:, 0].copy()
    top = -np.partition(-pbar, 1, axis=-1)[:, :2]
    return -(top[:, 0] - top[:, 1])


def entropy(proba_samples):
    """Predictive (max) entropy: ``H(p̄)``.

    Parameters
    ----------
    proba_samples : ndarray or torch.Tensor of shape (S, n, K) or (n, K)

    Returns
    -------
    scores : ndarray or torch.Tensor of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from skal.measures import entropy
    >>> entropy(np.array([[1.0, 0.0], [0.5, 0.5]])).round(4)
    array([0.    , 0.6931])
    """
    P, t = _check_samples(proba_samples)
    return _entropy_rows(_mean_proba(P), t)


def consensus_entropy(proba_samples):
    """Consensus entropy of a committee: ``H(p̄)`` with p̄ the members' mean.

    The same number as :func:`entropy`; kept under its query-by-committee name
    (modAL's ``consensus_entropy``) so that a committee strategy reads as such.

    Parameters
    ----------
    proba_samples : ndarray or torch.Tensor of shape (S, n, K) or (n, K)
        One slice per committee member.

    Returns
    -------
    scores : ndarray or torch.Tensor of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from skal.measures import consensus_entropy
    >>> P = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])  # two members disagree
    >>> consensus_entropy(P).round(4)
    array([0.6931])
    """
    return entropy(proba_samples)


def vote_entropy(proba_samples):
    """Vote entropy: ``H(V/S)`` where ``V(y)`` counts the samples voting for y.

    Each sample votes for its arg-max class (ties go to the first class).

    Parameters
    ----------
    proba_samples : ndarray or torch.Tensor of shape (S, n, K) or (n, K)

    Returns
    -------
    scores : ndarray or torch.Tensor of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from skal.measures import vote_entropy
    >>> P = np.array([[[0.6, 0.4]], [[0.3, 0.7]], [[0.8, 0.2]], [[0.1, 0.9]]])
    >>> vote_entropy(P).round(4)  # two votes each
    array([0.6931])
    """
    P, t = _check_samples(proba_samples)
    counts = _vote_counts(P, t)
    return _entropy_rows(counts / P.shape[0], t)


def bald(proba_samples):
    """BALD, the mutual information between label and model: ``H(p̄) - mean_s H(p_s)``.

    Computed without materialising any ``(S, n, K)`` temporary: ``p̄`` is one
    ``(n, K)`` array and the expected entropy is accumulated sample by
    sample. Rounding can push the difference a hair below zero; it is clipped
    at 0 (mutual information is non-negative, and exactly 0 when all samples
    agree).

    Parameters
    ----------
    proba_samples : ndarray or torch.Tensor of shape (S, n, K) or (n, K)

    Returns
    -------
    scores : ndarray or torch.Tensor of shape (n,)

    References
    ----------
    Houlsby, Huszár, Ghahramani, Lengyel (2011), arXiv:1112.5745;
    Gal, Islam, Ghahramani (2017), arXiv:1703.02910.

    Examples
    --------
    >>> import numpy as np
    >>> from skal.measures import bald
    >>> P = np.array([[[1.0, 0.0], [0.5, 0.5]], [[0.0, 1.0], [0.5, 0.5]]])
    >>> bald(P).round(4)  # confident disagreement vs. agreed ignorance
    array([0.6931, 0.    ])
    """
    P, t = _check_samples(proba_samples)
    scores = _entropy_rows(_mean_proba(P), t) - _expected_entropy(P, t)
    return _clip_nonnegative(scores, t)


def expected_entropy(proba_samples):
    """Expected (aleatoric) entropy ``mean_s H(p_s)``, the second term of BALD.

    Parameters
    ----------
    proba_samples : ndarray or torch.Tensor of shape (S, n, K) or (n, K)

    Returns
    -------
    values : ndarray or torch.Tensor of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from skal.measures import expected_entropy
    >>> expected_entropy(np.array([[[1.0, 0.0]], [[0.5, 0.5]]])).round(4)
    array([0.3466])
    """
    P, t = _check_samples(proba_samples)
    return _expected_entropy(P, t)


def max_disagreement(proba_samples):
    """Mean KL disagreement: ``(1/S) Σ_s KL(p_s ‖ p̄)``.

    Expanding the KL divergences gives
    ``(1/S) Σ_s Σ_y p_s log p_s - Σ_y p̄ log p̄ = H(p̄) - mean_s H(p_s)``:
    the mean disagreement *is* the BALD mutual information, and it is
    computed that way (no ``log(p_s / p̄)`` that could divide by zero). Note
    that modAL's ``max_disagreement_sampling`` takes the *maximum* KL over
    members instead of the mean.

    Parameters
    ----------
    proba_samples : ndarray or torch.Tensor of shape (S, n, K) or (n, K)

    Returns
    -------
    scores : ndarray or torch.Tensor of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from skal.measures import max_disagreement
    >>> P = np.array([[[0.9, 0.1]], [[0.1, 0.9]]])
    >>> max_disagreement(P).round(4)
    array([0.3681])
    """
    return bald(proba_samples)


def var_ratios(proba_samples):
    """Variation ratios: ``1 - (count of the modal vote) / S``.

    Parameters
    ----------
    proba_samples : ndarray or torch.Tensor of shape (S, n, K) or (n, K)

    Returns
    -------
    scores : ndarray or torch.Tensor of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from skal.measures import var_ratios
    >>> P = np.array([[[0.6, 0.4]], [[0.7, 0.3]], [[0.2, 0.8]], [[0.9, 0.1]]])
    >>> var_ratios(P)
    array([0.25])
    """
    P, t = _check_samples(proba_samples)
    counts = _vote_counts(P, t)
    if t:
        return 1 - counts.max(-1).values / P.shape[0]
    return 1 - counts.max(-1) / P.shape[0]


def mean_std(proba_samples):
    """Mean standard deviation: ``(1/K) Σ_k sqrt(E_s[p_k²] - E_s[p_k]²)``.

    The variance is accumulated as ``mean_s (p_s - p̄)²`` (two passes, one
    sample at a time), which avoids the cancellation of ``E[p²] - E[p]²``.

    Parameters
    ----------
    proba_samples : ndarray or torch.Tensor of shape (S, n, K) or (n, K)

    Returns
    -------
    scores : ndarray or torch.Tensor of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from skal.measures import mean_std
    >>> mean_std(np.array([[[1.0, 0.0]], [[0.0, 1.0]]]))
    array([0.5])
    """
    P, t = _check_samples(proba_samples)
    pbar = _mean_proba(P)
    if t:
        acc = (P[0] - pbar).square_()
        for s in range(1, P.shape[0]):
            acc += (P[s] - pbar).square_()
        return (acc / P.shape[0]).sqrt_().mean(-1)
    acc = np.square(P[0] - pbar)
    buf = np.empty_like(acc)
    for s in range(1, P.shape[0]):
        np.subtract(P[s], pbar, out=buf)
        acc += np.square(buf, out=buf)
    acc /= P.shape[0]
    return np.sqrt(acc, out=acc).mean(-1)


# --------------------------------------------------------------------------- joint entropy
#: Bytes a single scoring block of :meth:`JointConfigurations.conditional_entropy`
#: may take; bounds its memory whatever the number of configurations.
_BLOCK_BYTES = 64 * 2**20


def _to_numpy(P):
    if _is_torch(P):
        return P.detach().cpu().numpy()
    return P


class JointConfigurations:
    """Class configurations of a growing set of points, for joint entropies.

    Holds the joint predictive distribution of the labels ``y_A`` of a set A
    of points under the sample mixture
    ``p(y_A) = (1/S) Σ_s Π_{j ∈ A} p_s(y_j | x_j)``, as M configurations
    ``c_m`` with weights ``ω_m`` and the posterior over samples given each
    configuration, ``W[m, s] = p(s | c_m)``. From it, for a candidate x,

    ``H(y_A, y_x) = H(y_A) + Σ_m ω_m H(Σ_s W[m, s] p_s(·|x))``

    (the labels are independent given the sample). Two regimes:

    * **exact**: all ``K^|A|`` configurations (those of probability 0 are
      dropped), ``ω_m = p(c_m)``, as long as there are at most
      ``n_configurations`` of them;
    * **sampled**: beyond that, ``n_configurations`` configurations drawn
      from ``p(y_A)`` (stratified over the samples: configuration m is drawn
      from sample ``m mod S``), ``ω_m = 1/M`` (repeated draws are merged,
      with their count as weight); a new point extends every configuration
      by one label drawn from its own sample, which keeps the draws exact
      samples of the larger joint.

    Memory: ``O(S · M)`` for the configurations (``S · M · K`` for a moment
    while an exact set grows), plus blocks of at most
    64 MiB when scoring candidates. Time of :meth:`conditional_entropy`:
    ``O(M · S · n · K)`` for n candidates.

    Parameters
    ----------
    n_samples : int
        S, the number of predictive samples.
    n_classes : int
        K.
    n_configurations : int, default=10_000
        Most configurations kept (exact while the exact count fits, then
        this many sampled ones).
    random_state : int, RandomState or None
        Drives the sampled configurations.

    Examples
    --------
    >>> import numpy as np
    >>> from skal.measures import JointConfigurations
    >>> P = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])  # S=2 samples, one point
    >>> jc = JointConfigurations(2, 2).add(P[:, 0])
    >>> round(float(jc.entropy()), 4)  # two equally likely labels
    0.6931
    >>> jc.conditional_entropy(P).round(4)  # a copy of the point adds nothing
    array([0.])
    """

    def __init__(self, n_samples, n_classes, *, n_configurations=10_000, random_state=None):
        if n_configurations < 1:
            raise ValueError(f"n_configurations must be at least 1, got {n_configurations}.")
        self.n_samples = int(n_samples)
        self.n_classes = int(n_classes)
        self.n_configurations = int(n_configurations)
        self.random_state = check_random_state(random_state)
        self.exact = True
        # exact regime: Q[s, m] = Π_j p_s(c_mj | x_j) (probabilities, float64)
        self._Q = np.ones((self.n_samples, 1))
        # sampled regime: log Q and the sample each configuration was drawn from
        self._logQ = None
        self._owner = None
        self._points = []  # (S, K) probabilities of every added point
        self._weights, self._cast = None, {}

    @property
    def n_points(self):
        return len(self._points)

    def add(self, point_samples):
        """Add one point, given its ``(S, K)`` class probabilities; returns self."""
        p = np.asarray(_to_numpy(point_samples), dtype=np.float64)
        if p.shape != (self.n_samples, self.n_classes):
            raise ValueError(
                f"point_samples must have shape ({self.n_samples}, {self.n_classes}), "
                f"got {p.shape}."
            )
        self._points.append(p)
        self._weights, self._cast = None, {}
        if not self.exact:
            self._extend_samples(p)
            return self
        Q = (self._Q[:, :, None] * p[:, None, :]).reshape(self.n_samples, -1)
        # configurations nobody can produce carry no entropy: drop them
        Q = Q[:, Q.max(0) > 0]
        if Q.shape[1] <= self.n_configurations:
            self._Q = Q
        else:
            self._start_sampling()
        return self

    # -- sampled regime ---------------------------------------------------
    def _draw(self, p_owner):
        """One label per configuration from ``p_owner`` (M, K), by inverse CDF."""
        cdf = np.cumsum(p_owner, axis=1)
        u = (1.0 - self.random_state.random_sample(len(p_owner))) * cdf[:, -1]
        labels = (cdf < u[:, None]).sum(1)
        return np.minimum(labels, self.n_classes - 1)

    def _start_sampling(self):
        self.exact = False
        self._Q = None
        M, S = self.n_configurations, self.n_samples
        self._owner = np.arange(M) % S
        self._logQ = np.zeros((S, M))
        self._labels = []
        for p in self._points:
            self._accumulate(p, self._draw(p[self._owner]))

    def _extend_samples(self, p):
        self._accumulate(p, self._draw(p[self._owner]))

    def _accumulate(self, p, labels):
        logp = np.log(np.maximum(p, np.finfo(np.float64).tiny))
        self._logQ += logp[:, labels]
        self._labels.append(labels.astype(np.int16 if self.n_classes < 2**15 else np.int64))

    # -- weights ---------------------------------------------------------------
    def weights(self):
        """``(ω, W)``: configuration weights (M,) and sample posteriors (M, S)."""
        if self._weights is None:
            if self.exact:
                Q = self._Q
                mass = Q.sum(0)  # S · p(c_m)
                self._weights = mass / self.n_samples, np.ascontiguousarray((Q / mass).T)
            else:
                # Confident models draw the same configuration many times;
                # copies share their posterior, so score each one once,
                # weighted by its count (same estimate, less work).
                _, first, counts = np.unique(
                    np.stack(self._labels), axis=1, return_index=True, return_counts=True
                )
                logQ = self._logQ[:, first]
                W = np.exp(logQ - logsumexp(logQ, axis=0)).T
                self._weights = counts / self.n_configurations, np.ascontiguousarray(W)
        return self._weights

    def _weights_as(self, dtype):
        # the greedy loop scores many candidate blocks per added point
        key = np.dtype(dtype)
        if key not in self._cast:
            omega, W = self.weights()
            self._cast[key] = omega.astype(key), W.astype(key)
        return self._cast[key]

    def entropy(self):
        """``H(y_A)``: exact, or the sampled estimate ``-mean_m log p(c_m)``."""
        if self.exact:
            omega, _ = self.weights()
            return float(entr(omega).sum())
        log_p = logsumexp(self._logQ, axis=0) - math.log(self.n_samples)
        return float(-log_p.mean())

    def conditional_entropy(self, proba_samples, *, dtype=None):
        """``H(y_x | y_A) = Σ_m ω_m H(Σ_s W[m, s] p_s(·|x))`` for every candidate x.

        Parameters
        ----------
        proba_samples : ndarray of shape (S, n, K)
            Samples of the candidates.
        dtype : numpy dtype, optional
            Working precision of the matrix products (default: that of
            ``proba_samples``); float32 halves time and memory.

        Returns
        -------
        values : ndarray of shape (n,)
        """
        P = np.asarray(_to_numpy(proba_samples))
        S, n, K = P.shape
        if (S, K) != (self.n_samples, self.n_classes):
            raise ValueError(
                f"proba_samples must have shape ({self.n_samples}, n, {self.n_classes}), "
                f"got {P.shape}."
            )
        dtype = np.dtype(dtype or (P.dtype if P.dtype.kind == "f" else np.float64))
        omega, W = self._weights_as(dtype)
        M = W.shape[0]
        flat = np.ascontiguousarray(P, dtype=dtype).reshape(S, n * K)
        # two (M, rows·K) buffers per block: products and their x log x
        rows = max(1, _BLOCK_BYTES // (2 * M * K * dtype.itemsize))
        tiny = np.finfo(dtype).tiny
        out = np.empty(n, dtype=np.float64)
        buf = None
        for start in range(0, n, rows):
            stop = min(start + rows, n)
            R = W @ flat[:, start * K : stop * K]  # (M, rows·K): p(y_x | c_m)
            if buf is None or buf.shape != R.shape:
                buf = np.empty_like(R)
            # -r log r with 0 log 0 = 0: log of max(r, tiny) is finite and r = 0
            # multiplies it away. (np.log is vectorised; scipy's entr is not.)
            np.maximum(R, tiny, out=buf)
            np.log(buf, out=buf)
            buf *= R
            out[start:stop] = -(omega @ buf).reshape(stop - start, K).sum(1)
        out += 0.0  # -0.0 -> 0.0
        return out


def joint_entropy(proba_samples, *, n_configurations=10_000, random_state=None):
    """Joint entropy ``H(y_1, ..., y_n)`` of the labels of all n points.

    The joint distribution is the sample mixture
    ``p(y_1..y_n) = (1/S) Σ_s Π_i p_s(y_i | x_i)``. It is exact while the
    number of class configurations with non-zero probability stays at most
    ``n_configurations``; beyond that, it is a Monte-Carlo estimate from
    ``n_configurations`` sampled configurations.

    Parameters
    ----------
    proba_samples : ndarray or torch.Tensor of shape (S, n, K)
    n_configurations : int, default=10_000
    random_state : int, RandomState or None
        Drives the sampled configurations.

    Returns
    -------
    value : float

    Examples
    --------
    >>> import numpy as np
    >>> from skal.measures import joint_entropy
    >>> P = np.array([[[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]])
    >>> round(joint_entropy(P), 4)  # two copies of one coin flip: log 2
    0.6931
    """
    P, _ = _check_samples(_to_numpy(proba_samples))
    S, n, K = P.shape
    jc = JointConfigurations(S, K, n_configurations=n_configurations, random_state=random_state)
    for i in range(n):
        jc.add(P[:, i])
    return jc.entropy()


def joint_mutual_information(proba_samples, *, n_configurations=10_000, random_state=None):
    """Joint mutual information ``I(y_1..y_n; ω) = H(y_1..y_n) - Σ_i mean_s H(p_s(y_i))``.

    The BatchBALD objective of a batch of n points; with n = 1 it is BALD.

    Parameters
    ----------
    proba_samples : ndarray or torch.Tensor of shape (S, n, K)
    n_configurations : int, default=10_000
        See :func:`joint_entropy`.
    random_state : int, RandomState or None

    Returns
    -------
    value : float

    Examples
    --------
    >>> import numpy as np
    >>> from skal.measures import joint_mutual_information
    >>> P = np.array([[[1.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [0.0, 1.0]]])
    >>> round(joint_mutual_information(P), 4)  # the copy brings no new information
    0.6931
    """
    P, _ = _check_samples(_to_numpy(proba_samples))
    conditional = float(_expected_entropy(P, False).sum())
    return joint_entropy(P, n_configurations=n_configurations, random_state=random_state) - conditional
