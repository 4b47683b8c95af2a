"""Hybrid sampling: informative *and* diverse batches.

Ranking points one by one, a batch of b piles onto the most confusing region
of the pool; ignoring the model, it spends labels on points the model
already gets right. These strategies combine an uncertainty signal with the
geometry of an embedding ``φ(x)`` (:func:`skal.models.embed`) so that a
batch is both.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import check_random_state

from .. import measures
from .._validation import check_n_instances, check_scalar
from ._base import as_pool, check_chunk_size, labeled_set, pool_outputs, top_n
from ._diversity import _progress, pool_features
from ._docstrings import fill_doc
from ._geometry import FactoredPoints, greedy_centers
from ._rows import EMBED_ROWS, gradient_rows, outputs_of_rows
from ._rows import gradient_embedding  # noqa: F401  (imported from here by tests and benchmarks)

__all__ = ["badge", "cal", "cluster_margin", "information_density", "suggestive_annotation"]


@fill_doc
def badge(
    classifier, X_pool, n_instances=1, *, random_state=None, chunk_size=None, verbose=False,
    **predict_params,
):
    """BADGE: k-means++ seeding on gradient embeddings (Ash et al. 2020).

    Each pool point is represented by the gradient of the loss at its
    predicted label with respect to the last layer,
    ``g_x = (p̄ - e_ŷ) ⊗ [φ(x), 1]``: its norm grows with the model's
    uncertainty, its direction tells what the point would teach. The batch is
    drawn by k-means++ seeding on ``g``: the largest gradient first, then
    each point with probability proportional to its squared distance to the
    points already drawn. Distances are computed from the two factors, so
    the ``(n, K·(d+1))`` embedding is never built, and lazily (see
    :mod:`skal.strategies._geometry`).

    Parameters
    ----------
    {classifier}
        Its embedding and mean class probabilities are used.
    {X_pool}
    {n_instances}
    random_state : int, RandomState instance or None, default=None
        Drives the k-means++ draws.
    {chunk_size}
    verbose : bool, default=False
        A progress bar over the picks.
    {predict_params}

    Returns
    -------
    {query_idx}
        In the order drawn.
    scores : ndarray of shape (n_instances,)
        Gradient-embedding norms ``‖g_x‖`` of the picks.

    References
    ----------
    J. T. Ash, C. Zhang, A. Krishnamurthy, J. Langford, A. Agarwal. Deep
    Batch Active Learning by Diverse, Uncertain Gradient Lower Bounds. ICLR 2020.

    {measure_example}
    """
    pool = as_pool(X_pool)
    n_instances = check_n_instances(n_instances, pool.n_rows)
    chunk_size = check_chunk_size(chunk_size)
    rng = check_random_state(random_state)
    bar = _progress(verbose, n_instances, "BADGE")
    try:
        # gradient embeddings and distances stay where the pool's rows are
        factors = pool.map_rows(gradient_rows, classifier, chunk_size=chunk_size or EMBED_ROWS,
                                predict_params=predict_params)
        idx, _ = pool.greedy_centers(list(factors), n_instances, rule="d2", first="max_norm",
                                     random_state=rng, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    picked = FactoredPoints([pool.gather(f, idx) for f in factors])
    return idx, np.sqrt(picked.sq_norms.cpu().numpy().astype(np.float64))


def _margin_uncertainty(proba):
    """``1 - (p̄₁ - p̄₂)`` in [0, 1]: 1 where the top two classes tie."""
    return 1.0 + np.asarray(measures.margin(proba), dtype=np.float64)


def _margin_rows(model, rows, predict_params=None):
    (proba,) = outputs_of_rows(model, rows, proba=True, predict_params=predict_params)
    return _margin_uncertainty(proba)


@fill_doc
def cluster_margin(
    classifier,
    X_pool,
    n_instances=1,
    *,
    beta=10,
    clustering="kmeans",
    max_iter=50,
    random_state=None,
    chunk_size=None,
    verbose=False,
    **predict_params,
):
    """Diverse mini-batch: cluster the most uncertain points, one pick per cluster.

    Zhdanov (2019): keep the ``beta · n_instances`` points of smallest
    margin (``1 - (p̄₁ - p̄₂)`` largest), cluster their embeddings into
    ``n_instances`` clusters with k-means weighted by that uncertainty, and
    pick the point nearest each centre. ``clustering="hierarchical"`` is the
    Cluster-Margin variant of Citovsky et al. (2021), for batches in the
    thousands: average-linkage agglomerative clustering (on a k-nearest-
    neighbour graph, so memory stays ``O(n)``), then one point from each
    cluster in turn, smallest clusters first.

    Parameters
    ----------
    {classifier}
        Its mean class probabilities and embedding are used.
    {X_pool}
    {n_instances}
    beta : int, default=10
        Pre-filter size as a multiple of the batch (Zhdanov uses 10 to 50).
    clustering : {"kmeans", "hierarchical"}, default="kmeans"
    max_iter : int, default=50
        Lloyd iterations of the weighted k-means (its seeding is weighted
        k-means++).
    random_state : int, RandomState instance or None, default=None
        Seeds the clustering and breaks ties.
    {chunk_size}
    verbose : bool, default=False
        A progress bar over the seeding.
    {predict_params}

    Returns
    -------
    {query_idx}
        Most uncertain first.
    scores : ndarray of shape (n_instances,)
        Margin uncertainty ``1 - (p̄₁ - p̄₂)`` of the picks.

    References
    ----------
    F. Zhdanov. Diverse mini-batch Active Learning. arXiv:1901.05954, 2019.
    G. Citovsky et al. Batch Active Learning at Scale. NeurIPS 2021.

    {measure_example}
    """
    pool = as_pool(X_pool)
    n_pool = pool.n_rows
    n_instances = check_n_instances(n_instances, n_pool)
    beta = check_scalar(beta, "beta", numbers.Integral, min_val=1)
    max_iter = check_scalar(max_iter, "max_iter", numbers.Integral, min_val=1)
    if clustering not in ("kmeans", "hierarchical"):
        raise ValueError(f"clustering must be 'kmeans' or 'hierarchical', got {clustering!r}.")
    chunk_size = check_chunk_size(chunk_size)
    rng = check_random_state(random_state)
    uncertainty = pool.map_rows(_margin_rows, classifier, chunk_size=chunk_size or EMBED_ROWS,
                                vector=True, predict_params=predict_params)
    positions, values = pool.top_n(uncertainty, min(n_pool, beta * n_instances), rng)
    order = np.argsort(positions)
    candidates, weight = positions[order], values[order]
    (phi,) = pool_outputs(classifier, pool.take(candidates), embedding=True, chunk_size=chunk_size)
    if clustering == "kmeans":
        picks = _nearest_to_weighted_kmeans(phi, weight, n_instances, max_iter, rng, verbose)
    else:
        picks = _round_robin_hierarchical(phi, n_instances, rng)
    idx, picked = candidates[picks], weight[picks]
    order = np.argsort(-picked, kind="stable")
    return idx[order].astype(np.intp), picked[order]


def _nearest_to_weighted_kmeans(phi, weight, n_clusters, max_iter, rng, verbose):
    """The point nearest each centre of a weighted k-means; distinct, one per cluster."""
    from sklearn.cluster import KMeans

    if n_clusters == len(phi):
        return np.arange(len(phi))
    # Weighted k-means++ seeding through the lazy engine: sklearn's own costs
    # O(n·k·d·log k) and dominates for batches in the thousands.
    bar = _progress(verbose, n_clusters, "k-means++")
    try:
        seeds, _ = greedy_centers(
            FactoredPoints([phi]), n_clusters, rule="d2", weights=weight, random_state=rng, progress=bar
        )
    finally:
        if bar is not None:
            bar.close()
    kmeans = KMeans(
        n_clusters=n_clusters, init=phi[seeds], n_init=1, max_iter=max_iter,
        random_state=rng.randint(2**31 - 1),
    )
    labels = kmeans.fit_predict(phi, sample_weight=weight + 1e-12)
    sq_dist = ((phi - kmeans.cluster_centers_[labels]) ** 2).sum(axis=1)
    order = np.lexsort((sq_dist, labels))  # by cluster, nearest first
    first = order[np.r_[True, labels[order][1:] != labels[order][:-1]]]
    if len(first) < n_clusters:  # an empty cluster: fill from the seeds
        first = np.concatenate([first, np.setdiff1d(seeds, first)[: n_clusters - len(first)]])
    return first


def _round_robin_hierarchical(phi, n_select, rng):
    """Citovsky et al.: average-linkage clusters, one point from each in turn, smallest first."""
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.neighbors import kneighbors_graph

    if n_select == len(phi):
        return np.arange(len(phi))
    connectivity = kneighbors_graph(phi, n_neighbors=min(10, len(phi) - 1), include_self=False)
    labels = AgglomerativeClustering(
        n_clusters=n_select, linkage="average", connectivity=connectivity
    ).fit_predict(phi)
    clusters = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    clusters.sort(key=len)
    picks, depth = [], 0
    while len(picks) < n_select:
        for members in clusters:
            if depth < len(members) and len(picks) < n_select:
                picks.append(members[depth])
        depth += 1
    return np.asarray(picks)


def _normalised(phi):
    norms = np.linalg.norm(phi, axis=1, keepdims=True)
    return phi / np.maximum(norms, np.finfo(np.float32).tiny)


def _normalised_embedding_rows(model, rows):
    return _normalised(outputs_of_rows(model, rows, embedding=True)[0])


@fill_doc
def suggestive_annotation(
    classifier,
    X_pool,
    n_instances=1,
    *,
    n_candidates=None,
    uncertainty=measures.mean_std,
    n_reference=10_000,
    random_state=None,
    chunk_size=None,
    **predict_params,
):
    """Suggestive annotation: the most representative of the most uncertain (Yang et al. 2017).

    The ``n_candidates`` points on which the predictive samples disagree
    most (``uncertainty``, by default the members' standard deviation) are
    kept; among them a batch is chosen by greedy max-cover of the pool,
    maximising ``F(S) = Σ_{x_j ∈ pool} max_{x_i ∈ S} cos(φ_i, φ_j)``
    (negative similarities cover nothing). F is submodular, so the greedy
    steps are lazy: a candidate's gain is recomputed only when its last gain
    could still be the best.

    Parameters
    ----------
    {classifier}
        It needs several predictive samples (an ensemble, MC dropout) for
        the default uncertainty; with one model pass
        ``uncertainty=skal.measures.entropy``.
    {X_pool}
    {n_instances}
    n_candidates : int, default=None
        The uncertain pool kept for the max-cover step (Yang et al.'s K);
        ``2 · n_instances`` when None.
    uncertainty : callable, default=skal.measures.mean_std
        A measure ``(S, n, K) -> (n,)``.
    n_reference : int or None, default=10_000
        The pool points whose coverage is summed: all of them when the pool
        is smaller, else this many drawn at random (``None``: always all).
    random_state : int, RandomState instance or None, default=None
    {chunk_size}
    {predict_params}

    Returns
    -------
    {query_idx}
        In the order chosen.
    scores : ndarray of shape (n_instances,)
        Each pick's coverage gain ``F(S ∪ {x}) - F(S)`` when chosen.

    References
    ----------
    L. Yang, Y. Zhang, J. Chen, S. Zhang, D. Z. Chen. Suggestive Annotation:
    A Deep Active Learning Framework for Biomedical Image Segmentation.
    MICCAI 2017.

    {measure_example}
    """
    pool = as_pool(X_pool)
    n_pool = pool.n_rows
    n_instances = check_n_instances(n_instances, n_pool)
    n_candidates = check_scalar(
        n_candidates, "n_candidates", numbers.Integral, min_val=n_instances, allow_none=True,
        hint="Keep at least as many candidates as points to query.",
    )
    n_reference = check_scalar(n_reference, "n_reference", numbers.Integral, min_val=1, allow_none=True)
    chunk_size = check_chunk_size(chunk_size)
    rng = check_random_state(random_state)
    n_candidates = min(n_pool, 2 * n_instances if n_candidates is None else n_candidates)
    scores = pool.scores(classifier, uncertainty, chunk_size=chunk_size, predict_params=predict_params)
    candidates, _ = pool.top_n(scores, n_candidates, rng)
    reference = None  # every pool row
    if n_reference is not None and n_pool > n_reference:
        reference = np.sort(rng.choice(n_pool, size=n_reference, replace=False))
    phi_c = _normalised(pool_outputs(classifier, pool.take(candidates), embedding=True, chunk_size=chunk_size)[0])
    # the reference vectors stay where the pool's rows are
    reference = pool.subset(reference)
    coverage = reference.coverage(
        reference.map_rows(_normalised_embedding_rows, classifier, chunk_size=chunk_size or EMBED_ROWS)
    )
    picks, gains = _lazy_max_cover(phi_c, coverage, n_instances, rng)
    return candidates[picks].astype(np.intp), gains


#: Candidates whose gains are recomputed together in a lazy max-cover step.
_COVER_BLOCK = 32


def _lazy_max_cover(phi_c, coverage, n_select, rng):
    """Greedy max-cover of ``Σ_j max(0, max_{i ∈ S} <c_i, r_j>)`` with lazy gains (Minoux).

    A candidate's gain only shrinks as S grows, so its last computed gain
    bounds it; gains are recomputed for the best bounds, a block at a time,
    until the best recomputed gain beats every remaining bound. The
    reference vectors ``r_j`` and their coverage live in ``coverage`` (a
    pool's :class:`~skal.strategies._memory.Coverage`).
    """
    bound = np.full(len(phi_c), np.inf)
    chosen, gains = [], []
    for step in range(n_select):
        alive = len(phi_c) - step
        k = min(_COVER_BLOCK, alive)
        while True:
            order = top_n(bound, min(k + 1, alive), rng)
            block = order[:k]
            bound[block] = coverage.gains(phi_c[block])
            rest = bound[order[k]] if len(order) > k else -np.inf
            best = block[top_n(bound[block], 1, rng)[0]]
            if bound[best] >= rest:
                break
        chosen.append(best)
        gains.append(float(bound[best]))
        coverage.cover(phi_c[best])
        bound[best] = -np.inf
    return np.asarray(chosen, dtype=np.intp), np.asarray(gains)


@fill_doc
def information_density(
    classifier,
    X_pool,
    n_instances=1,
    *,
    uncertainty=measures.entropy,
    metric="euclidean",
    beta=1.0,
    representation="input",
    n_reference=10_000,
    random_state=None,
    chunk_size=None,
    **predict_params,
):
    """Information density: uncertainty weighted by how typical a point is of the pool.

    Settles & Craven (2008): ``score(x) = u(x) · density(x) ** beta`` with
    modAL's density, ``density(x) = mean_{x' ∈ pool} 1 / (1 + d(x, x'))``
    (modAL's ``information_density``), so that outliers, however uncertain,
    are not queried first. The density is computed in row blocks
    (scikit-learn's ``pairwise_distances_chunked``): memory stays bounded,
    never an n × n matrix; time is ``O(n · R · d)`` for R reference points.

    Not for budgets below a few hundred labels: with 20 to 100 labels
    (digits, DPE, batches of 10, 3 seeds; ``docs/label_efficiency.rst``)
    its AUBC is 0.021 below random's. The density pulls a top-b batch into
    the densest uncertain region, so batches cover fewer classes (5.0 of
    10 per batch of 10, random 6.3); use a batch-aware strategy there.

    Parameters
    ----------
    {classifier}
    {X_pool}
    {n_instances}
    uncertainty : callable or None, default=skal.measures.entropy
        The base measure ``(S, n, K) -> (n,)``; ``None`` ranks by density
        alone (modAL's ``information_density`` as a strategy).
    metric : str, default="euclidean"
        Any metric of :func:`sklearn.metrics.pairwise_distances`.
    beta : float, default=1.0
        Weight of the density.
    representation : {"input", "model"}, default="input"
        Densities between input features (modAL's choice) or model embeddings.
    n_reference : int or None, default=10_000
        Densities against all pool points when the pool is smaller, else
        against this many drawn at random (``None``: always all).
    random_state : int, RandomState instance or None, default=None
        Draws the reference points and breaks ties.
    {chunk_size}
    {predict_params}

    Returns
    -------
    {query_idx}
    scores : ndarray of shape (n_instances,)
        ``u(x) · density(x) ** beta`` of the picks.

    References
    ----------
    B. Settles, M. Craven. An Analysis of Active Learning Strategies for
    Sequence Labeling Tasks. EMNLP 2008.

    {measure_example}
    """
    pool = as_pool(X_pool)
    n_pool = pool.n_rows
    n_instances = check_n_instances(n_instances, n_pool)
    beta = check_scalar(beta, "beta", numbers.Real, min_val=0)
    n_reference = check_scalar(n_reference, "n_reference", numbers.Integral, min_val=1, allow_none=True)
    chunk_size = check_chunk_size(chunk_size)
    rng = check_random_state(random_state)
    phi = pool_features(classifier, pool, representation, chunk_size)
    reference = None  # every pool row
    if n_reference is not None and n_pool > n_reference:
        reference = np.sort(rng.choice(n_pool, size=n_reference, replace=False))
    # the reference vectors go where the pool's blocks are, not here
    density = pool.map_values(_density, phi, reference=pool.rows_of(phi, reference), metric=metric)
    if uncertainty is None:
        scores = pool.map_values(_weighted_density, density, beta=beta)
    else:
        u = pool.scores(classifier, uncertainty, chunk_size=chunk_size, predict_params=predict_params)
        scores = pool.map_values(_weighted_density, density, u, beta=beta)
    return pool.top_n(scores, n_instances, rng)


def _density(phi, reference, metric):
    """``mean_{x' ∈ reference} 1 / (1 + d(x, x'))`` of every row of ``phi``, in row blocks."""
    from sklearn.metrics import pairwise_distances_chunked

    return np.concatenate(
        list(
            pairwise_distances_chunked(
                phi, reference, metric=metric,
                reduce_func=lambda D, start: (1.0 / (1.0 + D)).mean(axis=1),
            )
        )
    )


def _weighted_density(density, uncertainty=None, *, beta):
    scores = density**beta
    return scores if uncertainty is None else scores * uncertainty


@fill_doc
def cal(
    classifier,
    X_pool,
    n_instances=1,
    *,
    X_labeled=None,
    n_neighbors=10,
    random_state=None,
    chunk_size=None,
    **predict_params,
):
    """Contrastive active learning: pool points that disagree with their labeled neighbours.

    Margatina et al. (2021): for a pool point x, its ``n_neighbors``
    nearest labeled points in the embedding, and the score
    ``mean_l KL(p̄(y|x_l) ‖ p̄(y|x))``: high where the model predicts
    something else than for labeled points that look the same (a decision
    boundary crossing a dense region).

    Not for budgets below a few hundred labels: with 20 to 100 labels
    (digits, DPE, batches of 10, 3 seeds; ``docs/label_efficiency.rst``)
    its AUBC is 0.065 below random's. With a handful of labeled neighbours
    per class, the points that contradict them most lie between two or
    three classes, and its batches covered 3.75 classes of 10 (random 6.3).

    Parameters
    ----------
    {classifier}
        Its embedding and mean class probabilities are used.
    {X_pool}
    {n_instances}
    X_labeled : array-like of shape (n_labeled, ...)
        The labeled set; skal's and modAL's learners provide it (as
        ``X_labeled``, or through ``classifier.X_training``).
    n_neighbors : int, default=10
        Labeled neighbours per pool point.
    random_state : int, RandomState instance or None, default=None
        Breaks ties.
    {chunk_size}
    {predict_params}

    Returns
    -------
    {query_idx}
    scores : ndarray of shape (n_instances,)
        Mean KL divergence to the labeled neighbours (nats).

    References
    ----------
    K. Margatina, G. Vernikos, L. Barrault, N. Aletras. Active Learning by
    Acquiring Contrastive Examples. EMNLP 2021.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from skal.strategies import cal
    >>> X, y = load_iris(return_X_y=True)
    >>> forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(X[::5], y[::5])
    >>> query_idx, scores = cal(forest, X, n_instances=3, X_labeled=X[::5])
    >>> query_idx.shape, scores.shape
    ((3,), (3,))
    """
    from sklearn.neighbors import NearestNeighbors

    pool = as_pool(X_pool)
    n_instances = check_n_instances(n_instances, pool.n_rows)
    n_neighbors = check_scalar(n_neighbors, "n_neighbors", numbers.Integral, min_val=1)
    chunk_size = check_chunk_size(chunk_size)
    rng = check_random_state(random_state)
    X_labeled = labeled_set(classifier, X_labeled, required_by="cal")
    p_lab, phi_lab = pool_outputs(
        classifier, X_labeled, proba=True, embedding=True, chunk_size=chunk_size, predict_params=predict_params
    )
    k = min(n_neighbors, len(phi_lab))
    p_lab = p_lab.astype(np.float64)
    scores = pool.map_rows(
        _contrastive_rows, classifier, chunk_size=chunk_size or EMBED_ROWS, vector=True,
        neighbours=NearestNeighbors(n_neighbors=k).fit(phi_lab), p_lab=p_lab,
        plogp_lab=-measures.entropy(p_lab),  # Σ_y p_l log p_l for every labeled point
        predict_params=predict_params,
    )
    return pool.top_n(scores, n_instances, rng)


def _contrastive_rows(model, rows, *, neighbours, p_lab, plogp_lab, predict_params):
    """CAL's score of a batch of rows: mean KL divergence from their labeled neighbours."""
    p_pool, phi_pool = outputs_of_rows(model, rows, proba=True, embedding=True,
                                       predict_params=predict_params)
    _, near = neighbours.kneighbors(phi_pool)
    log_pool = np.log(np.maximum(p_pool.astype(np.float64), 1e-12))
    # KL(p_l ‖ p_x) = Σ p_l log p_l - Σ p_l log p_x, averaged over the neighbours
    cross = np.einsum("nkc,nc->nk", p_lab[near], log_pool)
    scores = (plogp_lab[near] - cross).mean(axis=1)
    return np.maximum(scores, 0.0)
