"""skal.strategies._geometry: lazy k-center greedy and k-means++ against brute force."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from skal.strategies._geometry import FactoredPoints, greedy_centers


def brute_k_center(X, anchors, n):
    d = cdist(X, anchors, "sqeuclidean").min(axis=1) if len(anchors) else np.full(len(X), np.inf)
    chosen = []
    for _ in range(n):
        d[chosen] = -1
        u = int(np.argmax(d))
        chosen.append(u)
        d = np.minimum(d, ((X - X[u]) ** 2).sum(axis=1))
    return np.asarray(chosen)


def covering_radius(X, centres):
    return np.sqrt(cdist(X, centres, "sqeuclidean").min(axis=1).max())


@pytest.mark.parametrize("n, d, clustered", [(3000, 8, False), (3000, 64, False), (2000, 16, True)])
def test_k_center_greedy_equals_brute_force(n, d, clustered):
    rng = np.random.default_rng(n + d)
    X = rng.standard_normal((n, d))
    if clustered:  # tight blobs: distances change a lot as centres land in them
        X = rng.standard_normal((20, d))[rng.integers(0, 20, n)] * 5 + 0.3 * X
    anchors = X[rng.choice(n, 10, replace=False)] + 0.01
    ours, sq = greedy_centers(FactoredPoints([X]), 40, anchors=[anchors], random_state=0)
    reference = brute_k_center(X, anchors, 40)
    radius = covering_radius(X, np.concatenate([anchors, X[ours]]))
    assert radius == pytest.approx(covering_radius(X, np.concatenate([anchors, X[reference]])), rel=1e-5)
    # same picks, up to float32 near-ties
    assert (ours == reference).mean() > 0.95
    # the recorded distances are each pick's distance to the centres before it
    before = np.concatenate([anchors, X[ours[:-1]]])
    expected = [cdist(X[ours[i]][None], before[: 10 + i], "sqeuclidean").min() for i in range(40)]
    np.testing.assert_allclose(sq, expected, rtol=1e-4)


def test_factored_points_are_never_materialised_and_give_the_outer_product_distances():
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((500, 4)), rng.standard_normal((500, 7))
    G = np.einsum("na,nb->nab", A, B).reshape(500, -1)  # the (n, 28) embedding, for reference
    ours, _ = greedy_centers(FactoredPoints([A, B]), 15, first="max_norm", random_state=0)
    assert ours[0] == np.argmax((G**2).sum(1))
    dense, _ = greedy_centers(FactoredPoints([G]), 15, first="max_norm", random_state=0)
    np.testing.assert_array_equal(ours, dense)


def test_d2_draws_follow_the_squared_distances():
    # One anchor at 0, points at distances 1, 2, 3: the first draw is
    # proportional to 1 : 4 : 9 (rejection sampling must not bias it).
    X = np.array([[1.0], [2.0], [3.0]])
    counts = np.zeros(3)
    for seed in range(3000):
        first, _ = greedy_centers(FactoredPoints([X]), 1, rule="d2", anchors=[np.zeros((1, 1))], random_state=seed)
        counts[first[0]] += 1
    np.testing.assert_allclose(counts / counts.sum(), np.array([1, 4, 9]) / 14, atol=0.03)


def test_d2_draws_follow_the_distances_after_earlier_picks():
    # After a centre at 2.9, the point at 3 is almost covered: distances
    # from before that pick must not keep drawing it.
    X = np.array([[1.0], [2.9], [3.0]])
    counts = np.zeros(3)
    for seed in range(2000):
        picks, _ = greedy_centers(FactoredPoints([X]), 2, rule="d2", anchors=[np.zeros((1, 1))], random_state=seed)
        if picks[0] == 1:
            counts[picks[1]] += 1
    # given 2.9 first: point 1 at d²=1, point 3 at d²=0.01
    assert counts[2] / counts[[0, 2]].sum() == pytest.approx(0.01 / 1.01, abs=0.02)


def test_weighted_d2_never_draws_zero_weight_points():
    X = np.arange(10.0)[:, None]
    weights = np.r_[np.zeros(5), np.ones(5)]
    for seed in range(20):
        picks, _ = greedy_centers(FactoredPoints([X]), 4, rule="d2", weights=weights, random_state=seed)
        assert (picks >= 5).all()


def test_more_picks_than_distinct_points_stay_distinct():
    X = np.zeros((6, 3))
    for rule in ("farthest", "d2"):
        picks, _ = greedy_centers(FactoredPoints([X]), 6, rule=rule, random_state=0)
        assert sorted(picks.tolist()) == list(range(6))
