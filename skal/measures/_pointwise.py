"""Point-wise acquisition measures: one score per point from its predictive samples.

See :mod:`skal.measures` for the conventions (shapes, NumPy/torch, ``0 log 0``).
"""

from __future__ import annotations

import numpy as np

from .._containers import is_tensor

__all__ = [
    "bald",
    "consensus_entropy",
    "entropy",
    "expected_entropy",
    "least_confident",
    "margin",
    "max_disagreement",
    "mean_std",
    "var_ratios",
    "vote_entropy",
]


# --------------------------------------------------------------------------- helpers
def _between_samples(measure):
    """Mark a measure of the disagreement between samples (``needs_samples = True``).

    Such a measure is 0 on every point when there is one sample (a model
    that is not an ensemble, a committee or MC dropout), so a query by it is
    a random one; :func:`skal.strategies.query_by_measure` warns then.
    """
    measure.needs_samples = True
    return measure


def _check_samples(P, name="proba_samples"):
    """Return ``(P, is_torch)`` with P 3-D and floating."""
    if is_tensor(P):
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


@_between_samples
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


@_between_samples
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


@_between_samples
def max_disagreement(proba_samples):
    """Largest disagreement with the consensus: ``max_s KL(p_s ‖ p̄)``.

    modAL's ``max_disagreement_sampling``: the member that strays furthest
    from the committee's consensus decides the score. (The *mean* KL over
    members would be BALD: ``(1/S) Σ_s KL(p_s ‖ p̄) = H(p̄) - mean_s H(p_s)``,
    see :func:`bald`.) ``KL(p_s ‖ p̄) = Σ_y p_s log p_s - Σ_y p_s log p̄``,
    with ``0 log 0 = 0``; p̄ is positive wherever a member is, so no term
    divides by zero.

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
    >>> P = np.array([[[0.9, 0.1]], [[0.5, 0.5]], [[0.5, 0.5]]])  # 3 members, 1 point
    >>> max_disagreement(P).round(4)
    array([0.1863])
    """
    P, t = _check_samples(proba_samples)
    pbar = _mean_proba(P)
    if t:
        import torch

        log_pbar = torch.log(pbar.clamp_min(torch.finfo(pbar.dtype).tiny))
        best = None
        for s in range(P.shape[0]):
            kl = -torch.special.entr(P[s]).sum(-1) - (P[s] * log_pbar).sum(-1)
            best = kl if best is None else torch.maximum(best, kl)
        return _clip_nonnegative(best, t)
    log_pbar = np.log(np.maximum(pbar, np.finfo(pbar.dtype).tiny))
    buf = np.empty_like(pbar)
    best = None
    for s in range(P.shape[0]):
        kl = -_neg_xlogx(P[s], out=buf).sum(-1) - (P[s] * log_pbar).sum(-1)
        best = kl if best is None else np.maximum(best, kl, out=best)
    return _clip_nonnegative(best, t)


@_between_samples
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


@_between_samples
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
