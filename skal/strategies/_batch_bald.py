"""BatchBALD (Kirsch, van Amersfoort, Gal 2019): greedy batches of joint mutual information."""

import numbers

import numpy as np
from sklearn.utils import check_random_state

from .. import measures
from .._validation import check_n_instances, check_scalar
from ._base import as_pool, check_chunk_size, iter_proba_samples, top_n
from ._docstrings import fill_doc
from ._rows import non_finite, warn_if_one_sample

__all__ = ["batch_bald"]


def _candidate_samples(classifier, pool, n_candidates, rng, chunk_size, predict_params):
    """Samples and BALD scores of the candidates: the whole pool, or its top ``n_candidates``.

    Without a pre-filter, one pass fills the pool's samples in place (a
    pool in memory only: its samples are held). With one, a first pass
    keeps only BALD scores (one per row, where the rows live), the
    candidates are their top ``n_candidates`` (:meth:`Pool.top_n`), and a
    second pass predicts the candidates' rows alone: at most
    ``n_candidates`` rows of samples are held.
    """
    if n_candidates is not None:
        scores = pool.scores(classifier, measures.bald, chunk_size=chunk_size,
                             predict_params=predict_params)
        positions, values = pool.top_n(scores, n_candidates, rng)
        order = np.argsort(positions)
        candidates = positions[order]
        chunks = iter_proba_samples(classifier, pool.take(candidates), chunk_size=chunk_size,
                                    predict_params=predict_params)
        return candidates, np.concatenate([P for _, _, P in chunks], axis=1), values[order]
    pool.require_memory(
        "batch_bald without n_candidates",
        "holds the predictive samples of every pool row (pass n_candidates=... to keep "
        "those of the top rows by BALD only)",
    )
    n = pool.n_rows
    all_P = None
    scores = np.empty(n)
    for start, stop, P in iter_proba_samples(
        classifier, pool, chunk_size=chunk_size, predict_params=predict_params
    ):
        if start == 0:
            warn_if_one_sample(classifier, measures.bald, P)
        scores[start:stop] = measures.bald(P)
        if all_P is None:  # filled in place: no second copy of the pool's samples
            all_P = np.empty((P.shape[0], n, P.shape[2]), dtype=P.dtype)
        all_P[:, start:stop] = P
    if not np.isfinite(scores).all():
        raise non_finite(classifier)
    return np.arange(n), all_P, scores


@fill_doc
def batch_bald(
    classifier,
    X_pool,
    n_instances=1,
    *,
    random_state=None,
    chunk_size=None,
    n_configurations=10_000,
    n_candidates=None,
    **predict_params,
):
    """BatchBALD: a batch that maximises the joint mutual information ``I(y_1..y_b; ω)``.

    Greedy (Kirsch et al., 2019): the first point is BALD's choice; each next
    point x maximises the gain ``I(y_A, y_x; ω) - I(y_A; ω) =
    H(y_x | y_A) - mean_s H(p_s(y_x))`` given the points A already chosen.
    Unlike BALD's top-b, a batch never spends two slots on near-copies: once
    one copy is in A, the other brings (almost) no new information.

    ``H(y_x | y_A)`` is computed over class configurations of ``y_A``
    (:class:`skal.measures.JointConfigurations`): exactly, over all
    ``K^|A|`` configurations of non-zero probability, while there are at
    most ``n_configurations`` of them; beyond, from ``n_configurations``
    configurations sampled from ``p(y_A)`` (drawn with ``random_state``).
    With ``n_instances=1`` the result is exactly BALD's.

    **Cost.** One prediction pass over the pool (and one over the candidates
    when ``n_candidates`` is set), BALD on it (``O(n·S·K)``),
    then for each of the ``b - 1`` greedy steps ``O(M·S·K)`` time per
    candidate scored, ``M <= n_configurations``. The steps are *lazy*: a
    candidate's gain can only shrink as the batch grows and never exceeds
    its BALD score, so candidates are scored in decreasing order of that
    bound and a step stops as soon as its best gain beats every remaining
    bound, usually after a few hundred candidates rather than all ``n_c``
    (the choice is the same as scoring all of them, up to Monte-Carlo noise
    once configurations are sampled).
    **Memory.** The candidates' samples (``S·n_c·K`` floats: the whole pool
    unless ``n_candidates`` is set), ``S·M`` configuration weights, and
    scoring blocks of at most 64 MiB. The greedy steps work in float32.

    Parameters
    ----------
    {classifier}
        It needs several predictive samples (ensemble, MC dropout,
        committee) to be of any use.
    {X_pool}
    {n_instances}
    random_state : int, RandomState instance or None, default=None
        Breaks ties and draws the sampled configurations.
    {chunk_size}
    n_configurations : int, default=10_000
        Most class configurations: the exact joint is used while it has at
        most this many, then this many sampled ones. Time per greedy step
        grows linearly with it.
    n_candidates : int or None, default=None
        Keep only the ``n_candidates`` pool rows with the highest BALD score
        as candidates (their samples are predicted in a second pass, so
        memory stays bounded on large pools). ``None`` considers the whole
        pool. Must be at least ``n_instances``.
    {predict_params}

    Returns
    -------
    query_idx : ndarray of shape (n_instances,)
        Distinct pool positions, in the order the greedy search chose them.
    scores : ndarray of shape (n_instances,)
        The information each point adds to the ones before it: BALD for the
        first, then the conditional gains; their sum estimates the batch's
        joint mutual information.

    References
    ----------
    Kirsch, van Amersfoort, Gal (2019). BatchBALD: Efficient and Diverse
    Batch Acquisition for Deep Bayesian Active Learning. arXiv:1906.08158.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from skal.strategies import batch_bald
    >>> X, y = load_iris(return_X_y=True)
    >>> forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(X[::5], y[::5])
    >>> query_idx, gains = batch_bald(forest, X, n_instances=3, random_state=0)
    >>> query_idx.shape, gains.shape
    ((3,), (3,))
    """
    pool = as_pool(X_pool)
    n_pool = pool.n_rows
    n_instances = check_n_instances(n_instances, n_pool)
    chunk_size = check_chunk_size(chunk_size)
    n_configurations = check_scalar(n_configurations, "n_configurations", numbers.Integral, min_val=1)
    n_candidates = check_scalar(
        n_candidates, "n_candidates", numbers.Integral, min_val=n_instances, allow_none=True,
        hint="Keep at least as many candidates as points to query.",
    )
    if n_candidates is not None and n_candidates >= n_pool:
        n_candidates = None
    rng = check_random_state(random_state)

    cand_idx, P, bald_scores = _candidate_samples(
        classifier, pool, n_candidates, rng, chunk_size, predict_params
    )
    first = top_n(bald_scores, 1, rng)[0]
    chosen, gains = [first], [bald_scores[first]]
    if n_instances > 1:
        S, n_c, K = P.shape
        conditional = measures.expected_entropy(P)
        joint = measures.JointConfigurations(
            S, K, n_configurations=n_configurations, random_state=rng
        )
        # Upper bounds of every candidate's gain: BALD at first, then the
        # last gain computed for it (gains only shrink as the batch grows).
        bounds = np.asarray(bald_scores, dtype=np.float64).copy()
        bounds[first] = -np.inf
        P32 = P.astype(np.float32)
        for _ in range(n_instances - 1):
            joint.add(P[:, chosen[-1]])
            best = _lazy_argmax(joint, P32, conditional, bounds, rng)
            chosen.append(best)
            gains.append(bounds[best])
            bounds[best] = -np.inf
    chosen = np.asarray(chosen, dtype=np.intp)
    return cand_idx[chosen].astype(np.intp), np.asarray(gains, dtype=np.float64)


#: Candidates scored together in the first block of a greedy step. Blocks
#: double from there: a step that can stop early scores few candidates, and
#: one that has to score many still does so in large, efficient blocks.
_FIRST_BLOCK = 128


def _lazy_argmax(joint, P, conditional, bounds, rng):
    """Candidate with the largest gain ``H(y_x | y_A) - mean_s H(p_s(y_x))``.

    Lazy greedy (Minoux 1978): because the labels are independent given the
    model, ``I(y_x; ω | y_A) <= I(y_x; ω | y_B)`` for ``B ⊆ A``, so BALD and
    any earlier gain bound the current gain from above. Candidates are
    scored in blocks in decreasing order of their bounds, until the best
    gain found beats every unscored bound. In the exact regime this picks
    what scoring every candidate would; with sampled configurations it
    agrees up to Monte-Carlo noise. ``bounds`` is updated in place with the
    gains computed (the winner's gain included).
    """
    alive = np.flatnonzero(np.isfinite(bounds))
    # random order first, then a stable sort: equal bounds are visited at random
    alive = alive[rng.permutation(len(alive))]
    order = alive[np.argsort(-bounds[alive], kind="stable")]
    best_gain = -np.inf
    scored = []
    pos, block = 0, _FIRST_BLOCK
    while pos < len(order) and bounds[order[pos]] >= best_gain:
        idx = order[pos : pos + block]
        gain = joint.conditional_entropy(P[:, idx]) - conditional[idx]
        bounds[idx] = gain
        scored.append(idx)
        best_gain = max(best_gain, float(gain.max()))
        pos += len(idx)
        block *= 2
    scored = np.concatenate(scored)
    return scored[top_n(bounds[scored], 1, rng)[0]]
