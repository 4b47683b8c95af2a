"""Joint entropies of the labels of several points, for BatchBALD (Kirsch et al. 2019).

The joint distribution of the labels ``y_A`` of a set of points is the
sample mixture ``p(y_A) = (1/S) Σ_s Π_{j ∈ A} p_s(y_j | x_j)``: labels are
independent given a sample (an ensemble member, an MC-dropout network), not
marginally. :class:`JointConfigurations` holds that distribution over class
configurations as a batch grows, exactly while it is small and by
stratified sampling beyond; :func:`joint_entropy` and
:func:`joint_mutual_information` are the one-shot forms.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from scipy.special import entr, logsumexp
from sklearn.utils import check_random_state

from .._containers import is_tensor
from .._validation import check_scalar
from ._pointwise import _check_samples, _expected_entropy

__all__ = ["JointConfigurations", "joint_entropy", "joint_mutual_information"]

#: Bytes a single scoring block of :meth:`JointConfigurations.conditional_entropy`
#: may take; bounds its memory whatever the number of configurations.
_BLOCK_BYTES = 64 * 2**20


def _to_numpy(P):
    if is_tensor(P):
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
    * **sampled**: beyond that, M = ``n_configurations`` configurations
      drawn from ``p(y_A)``, stratified over the samples: configuration m is
      drawn from sample ``m mod S`` and weighs ``ω_m = 1 / (S · M_s)``, M_s
      being the number of configurations drawn from its sample, so that
      every sample counts ``1/S`` however M divides among them (when
      ``M < S``, M distinct samples chosen at random own one configuration
      each, ``ω_m = 1/M``). Both are unbiased estimates of the mixture.
      Repeated draws are merged, their weights summed; a new point extends
      every configuration by one label drawn from its own sample, which
      keeps the draws exact samples of the larger joint.

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
        check_scalar(n_configurations, "n_configurations", numbers.Integral, min_val=1)
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
        if M >= S:
            self._owner = np.arange(M) % S
            per_sample = np.bincount(self._owner, minlength=S)
            # each sample's stratum weighs 1/S, shared by its M_s draws
            self._draw_weight = 1.0 / (S * per_sample[self._owner])
        else:
            # A random subset of samples, one draw each: unbiased on average
            # over the subsets, where "the first M samples" would not be.
            self._owner = self.random_state.choice(S, size=M, replace=False)
            self._draw_weight = np.full(M, 1.0 / M)
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
                # with the summed weight of its draws (same estimate, less work).
                _, first, inverse = np.unique(
                    np.stack(self._labels), axis=1, return_index=True, return_inverse=True
                )
                omega = np.bincount(
                    inverse.ravel(), weights=self._draw_weight, minlength=len(first)
                )
                logQ = self._logQ[:, first]
                W = np.exp(logQ - logsumexp(logQ, axis=0)).T
                self._weights = omega, np.ascontiguousarray(W)
        return self._weights

    def _weights_as(self, dtype):
        # the greedy loop scores many candidate blocks per added point
        key = np.dtype(dtype)
        if key not in self._cast:
            omega, W = self.weights()
            self._cast[key] = omega.astype(key), W.astype(key)
        return self._cast[key]

    def entropy(self):
        """``H(y_A)``: exact, or the sampled estimate ``-Σ_m ω_m log p(c_m)``."""
        if self.exact:
            omega, _ = self.weights()
            return float(entr(omega).sum())
        log_p = logsumexp(self._logQ, axis=0) - math.log(self.n_samples)
        return float(-(self._draw_weight * log_p).sum())

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
