"""Diversity sampling: cover the pool's embedding, ignoring the model's uncertainty.

Where uncertainty is unreliable (the first rounds, when the model has seen a
handful of labels) or piles a batch onto one confusing region, these
strategies choose points that represent the pool: far from everything
labeled (core-set) or typical of regions nothing labeled covers
(TypiClust). They read the embedding ``φ(x)`` through
:func:`skal.models.embed` (a network's penultimate layer, a Pipeline's
transformed features) or the input features themselves.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import check_random_state

from .._validation import check_n_instances, check_scalar
from ._base import as_pool, check_chunk_size, labeled_set, top_n
from ._docstrings import fill_doc
from ._rows import check_representation, embedding_chunks, embedding_rows, features

__all__ = ["coreset", "typiclust"]


def _progress(verbose, total, desc):
    if not verbose:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False)


def pool_features(classifier, pool, representation, chunk_size):
    """Every pool row's vector (:func:`features`), computed where the rows live."""
    return pool.map_rows(embedding_rows, classifier, chunk_size=embedding_chunks(representation, chunk_size),
                         representation=check_representation(representation))


@fill_doc
def coreset(
    classifier,
    X_pool,
    n_instances=1,
    *,
    X_labeled=None,
    representation="model",
    random_state=None,
    chunk_size=None,
    verbose=False,
):
    """Core-set (k-center greedy): each pick is the point farthest from everything chosen.

    Sener & Savarese (2018): starting from the labeled set, repeat
    ``u = argmax_i min_{j ∈ s} ‖φ_i - φ_j‖`` and add u to s, so that the
    batch covers the pool with the smallest radius it can greedily reach.
    Exact k-center greedy in ``O(n·d)`` memory (never an n × n matrix) and,
    with lazy distance updates, far less than ``O(n·b·d)`` time in practice
    (see :mod:`skal.strategies._geometry`).

    Pure diversity: it ignores how uncertain the model is, and with outliers
    in the pool it picks them first. Use it in the first rounds, or through
    a hybrid (:func:`badge`, :func:`cluster_margin`).

    Parameters
    ----------
    {classifier}
        Only its embedding is used (``representation="model"``).
    {X_pool}
    {n_instances}
    X_labeled : array-like of shape (n_labeled, ...), default=None
        The labeled set, the initial centres (skal's learners pass it; from
        a modAL learner it is read from ``classifier.X_training``). With
        none, the first pick is drawn at random.
    representation : {"model", "input"}, default="model"
        Distances between model embeddings (:func:`skal.models.embed`) or
        between the input features as the final estimator receives them.
    random_state : int, RandomState instance or None, default=None
        Draws the first pick when nothing is labeled; breaks ties.
    {chunk_size}
    verbose : bool, default=False
        A progress bar over the picks.

    Returns
    -------
    {query_idx}
    scores : ndarray of shape (n_instances,)
        Each pick's distance to the nearest point labeled or picked before
        it (the covering radius it removes); for a first pick with nothing
        labeled, its distance to the farthest pool point.

    References
    ----------
    O. Sener, S. Savarese. Active Learning for Convolutional Neural
    Networks: A Core-Set Approach. ICLR 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skal.strategies import coreset
    >>> X = np.array([[0.0], [1.0], [5.0], [10.0]])
    >>> model = LogisticRegression().fit([[0.0], [10.0]], [0, 1])
    >>> coreset(model, X, n_instances=2, X_labeled=np.array([[0.0]]))
    (array([3, 2]), array([10.,  5.]))
    """
    pool = as_pool(X_pool)
    n_instances = check_n_instances(n_instances, pool.n_rows)
    chunk_size = check_chunk_size(chunk_size)
    rng = check_random_state(random_state)
    anchors = None
    X_labeled = labeled_set(classifier, X_labeled)
    if X_labeled is not None:
        anchors = [features(classifier, X_labeled, representation=representation, chunk_size=chunk_size)]
    bar = _progress(verbose, n_instances, "core-set")
    try:
        # embeddings and distances stay where the pool's rows are
        phi = pool_features(classifier, pool, representation, chunk_size)
        idx, sq_dist = pool.greedy_centers(
            [phi], n_instances, rule="farthest", anchors=anchors, random_state=rng, progress=bar
        )
    finally:
        if bar is not None:
            bar.close()
    return idx, np.sqrt(sq_dist)


@fill_doc
def typiclust(
    classifier,
    X_pool,
    n_instances=1,
    *,
    X_labeled=None,
    representation="model",
    n_neighbors=20,
    max_clusters=500,
    min_cluster_size=5,
    random_state=None,
    chunk_size=None,
):
    """TypiClust: the most typical point of each region that nothing labeled covers.

    Hacohen, Dekel & Weinshall (2022), "Active learning on a budget": with
    very few labels, typical points teach a model more than uncertain ones.
    Labeled and pool points are clustered with k-means into
    ``min(n_labeled + n_instances, max_clusters)`` clusters; each pick goes to
    the cluster holding the fewest labeled (or already picked) points, the
    largest first, and takes its pool point of highest typicality,
    ``1 / mean distance to its n_neighbors nearest neighbours`` in the
    cluster. Clusters smaller than ``min_cluster_size`` are skipped while
    others remain.

    A cold-start strategy: for budgets of a few labels per class. Once the
    model is good, uncertainty-based and hybrid strategies do better (the
    ``auto`` strategy switches for you).

    Parameters
    ----------
    {classifier}
        Only its embedding is used (``representation="model"``).
    {X_pool}
    {n_instances}
    X_labeled : array-like of shape (n_labeled, ...), default=None
        The labeled set (skal's learners pass it; from a modAL learner it is
        read from ``classifier.X_training``).
    representation : {"model", "input"}, default="model"
        Cluster model embeddings or the input features (a model trained on
        a handful of labels may embed poorly; the paper uses
        self-supervised features).
    n_neighbors : int, default=20
        Neighbours in the typicality (the paper's K = 20).
    max_clusters : int, default=500
        Cap on the number of clusters (the paper's, for large budgets).
    min_cluster_size : int, default=5
        Clusters with fewer points are used only when no other is left.
    random_state : int, RandomState instance or None, default=None
        Seeds k-means and breaks ties.
    {chunk_size}

    Returns
    -------
    {query_idx}
    scores : ndarray of shape (n_instances,)
        Typicality of each pick.

    References
    ----------
    G. Hacohen, A. Dekel, D. Weinshall. Active Learning on a Budget:
    Opposite Strategies Suit High and Low Budgets. ICML 2022.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skal.strategies import typiclust
    >>> rng = np.random.RandomState(0)
    >>> X = np.concatenate([rng.normal(0, 1, (50, 2)), rng.normal(8, 1, (50, 2))])
    >>> model = LogisticRegression().fit(X[[0, 50]], [0, 1])
    >>> idx, _ = typiclust(model, X, n_instances=2, representation="input", random_state=0)
    >>> sorted(int(i) // 50 for i in idx)  # one typical point from each blob
    [0, 1]
    """
    from sklearn.cluster import KMeans

    pool = as_pool(X_pool)
    n_pool = pool.n_rows
    n_instances = check_n_instances(n_instances, n_pool)
    n_neighbors = check_scalar(n_neighbors, "n_neighbors", numbers.Integral, min_val=1)
    max_clusters = check_scalar(max_clusters, "max_clusters", numbers.Integral, min_val=1)
    min_cluster_size = check_scalar(min_cluster_size, "min_cluster_size", numbers.Integral, min_val=1)
    chunk_size = check_chunk_size(chunk_size)
    rng = check_random_state(random_state)
    pool.require_memory(
        "typiclust (auto's strategy while the labeled set is small)",
        "clusters the vectors of every pool row with k-means",
    )

    phi = pool_features(classifier, pool, representation, chunk_size)
    n_labeled = 0
    X_labeled = labeled_set(classifier, X_labeled)
    if X_labeled is not None:
        labeled = features(classifier, X_labeled, representation=representation, chunk_size=chunk_size)
        n_labeled = len(labeled)
        phi = np.concatenate([labeled, phi])
    n_clusters = min(n_labeled + n_instances, max_clusters, len(phi))
    kmeans = KMeans(n_clusters=n_clusters, n_init=1, random_state=rng.randint(2**31 - 1))
    assign = kmeans.fit_predict(phi)
    covered = np.bincount(assign[:n_labeled], minlength=n_clusters).astype(np.int64)
    size = np.bincount(assign, minlength=n_clusters)
    pool_assign = assign[n_labeled:]
    available = np.ones(n_pool, dtype=bool)
    typicality = {}
    chosen, scores = [], []
    for _ in range(n_instances):
        has_pool = np.bincount(pool_assign[available], minlength=n_clusters) > 0
        eligible = has_pool & (size >= min_cluster_size)
        if not eligible.any():
            eligible = has_pool
        # fewest labeled points first, then the largest cluster, then at random
        order = np.lexsort((rng.random_sample(n_clusters), -size, covered))
        cluster = order[eligible[order]][0]
        if cluster not in typicality:
            typicality[cluster] = _typicality(phi[assign == cluster], n_neighbors)
        members = np.flatnonzero(assign == cluster)  # positions in phi
        values = typicality[cluster]
        in_pool = members >= n_labeled
        candidates = members[in_pool] - n_labeled
        values = values[in_pool]
        free = np.flatnonzero(available[candidates])
        best = free[top_n(values[free], 1, rng)[0]]
        pick = int(candidates[best])
        chosen.append(pick)
        scores.append(float(values[best]))
        available[pick] = False
        covered[cluster] += 1
    return np.asarray(chosen, dtype=np.intp), np.asarray(scores)


def _typicality(points, n_neighbors):
    """``1 / mean distance to the k nearest other points`` (k = min(n_neighbors, size - 1))."""
    from sklearn.neighbors import NearestNeighbors

    k = min(n_neighbors, len(points) - 1)
    if k < 1:
        return np.ones(len(points))
    distances, _ = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points)
    mean = distances[:, 1:].mean(axis=1)
    return 1.0 / np.maximum(mean, np.finfo(np.float64).tiny)
