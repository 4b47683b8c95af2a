"""Batch-aware strategies against references: autograd gradients, brute-force greedy, modAL's formulas."""

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from skorch import NeuralNetClassifier
from sklearn.linear_model import LogisticRegression

from skal import measures
from skal.models import MLP, embed, predict_proba_samples
from skal.strategies import (
    auto,
    badge,
    cal,
    cluster_margin,
    coreset,
    egl,
    emoc,
    information_density,
    power_bald,
    power_entropy,
    power_margin,
    power_sample,
    suggestive_annotation,
    top_n,
    typiclust,
)
from skal.strategies._hybrid import gradient_embedding


@pytest.fixture(scope="module")
def net(digits):
    """A small skorch net: the "last layer" of the closed forms is its head."""
    X, y = digits
    torch.manual_seed(0)
    clf = NeuralNetClassifier(
        MLP, module__n_features=64, module__n_classes=10, module__hidden_units=(16,),
        criterion=torch.nn.CrossEntropyLoss, max_epochs=5, lr=0.05, train_split=None, verbose=0,
    )
    return clf.fit(X[:300], y[:300])


def head_gradients(net, x):
    """Autograd gradients of CE(f(x), y) w.r.t. the head's weight and bias, for every y."""
    module = net.module_
    phi = torch.as_tensor(embed(net, x[None]))
    grads = []
    for y in range(10):
        module.zero_grad()
        logits = module.head(phi)
        torch.nn.functional.cross_entropy(logits, torch.tensor([y])).backward()
        grads.append(torch.cat([module.head.weight.grad.flatten(), module.head.bias.grad]).numpy().copy())
    return np.asarray(grads)  # (K, K * (d + 1)), weight then bias


# -- BADGE ----------------------------------------------------------------------------


def test_gradient_embedding_is_autograds_last_layer_gradient_at_the_predicted_label(net, digits):
    X, _ = digits
    x = X[400:401]
    proba = predict_proba_samples(net, x).mean(0)
    a, b = gradient_embedding(proba, embed(net, x).astype(np.float32))
    g = np.einsum("nk,nd->nkd", a, b)[0]  # (K, d + 1): weight rows, bias last column
    grads = head_gradients(net, x[0])[proba[0].argmax()]
    d = b.shape[1] - 1
    np.testing.assert_allclose(g[:, :d].ravel(), grads[: 10 * d], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(g[:, d], grads[10 * d :], rtol=1e-4, atol=1e-6)


def test_badge_first_pick_has_the_largest_gradient_norm_and_picks_are_distinct(net, digits):
    X, _ = digits
    pool = X[300:900]
    idx, norms = badge(net, pool, n_instances=25, random_state=0)
    assert len(set(idx.tolist())) == 25
    a, b = gradient_embedding(predict_proba_samples(net, pool).mean(0), embed(net, pool))
    all_norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    assert idx[0] == np.argmax(all_norms)
    np.testing.assert_allclose(norms, all_norms[idx], rtol=1e-5)


def test_badge_beats_top_gradient_norms_on_k_means_potential(net, digits):
    # k-means++ seeding spreads the batch: its potential (sum of squared
    # distances to the nearest pick) is lower than that of the b largest norms.
    X, _ = digits
    pool = X[300:1300]
    a, b = gradient_embedding(predict_proba_samples(net, pool).mean(0), embed(net, pool))
    G = np.einsum("nk,nd->nkd", a, b).reshape(len(pool), -1)
    ours, _ = badge(net, pool, n_instances=20, random_state=0)
    top = np.argsort(-(G**2).sum(1))[:20]
    potential = lambda picks: cdist(G, G[picks], "sqeuclidean").min(1).sum()  # noqa: E731
    assert potential(ours) < 0.8 * potential(top)


# -- core-set ---------------------------------------------------------------------------


def test_coreset_covering_radius_equals_brute_force_greedy(digits):
    X, y = digits
    model = LogisticRegression(max_iter=200).fit(X[:100], y[:100])  # embed: X itself
    labeled, pool = X[:100], X[100:1100]
    idx, radii = coreset(model, pool, n_instances=30, X_labeled=labeled)
    d = cdist(pool, labeled, "sqeuclidean").min(1)
    chosen = []
    for _ in range(30):
        d[chosen] = -1
        chosen.append(int(np.argmax(d)))
        d = np.minimum(d, ((pool - pool[chosen[-1]]) ** 2).sum(1))
    cover = lambda picks: np.sqrt(cdist(pool, np.r_[labeled, pool[picks]], "sqeuclidean").min(1).max())  # noqa: E731
    assert cover(idx) == pytest.approx(cover(chosen), rel=1e-5)
    assert (np.diff(radii) <= 1e-5).all()  # greedy radii never grow


def test_coreset_reads_the_labeled_set_of_a_modal_style_learner(digits):
    X, y = digits

    class Learner:  # what modAL hands a strategy: the learner, with X_training
        def __init__(self):
            self.estimator = LogisticRegression(max_iter=200).fit(X[:100], y[:100])
            self.X_training = X[:100]

        def query(self, *a):
            pass

        def teach(self, *a):
            pass

    with_learner, _ = coreset(Learner(), X[100:600], n_instances=5)
    explicit, _ = coreset(Learner().estimator, X[100:600], n_instances=5, X_labeled=X[:100])
    np.testing.assert_array_equal(with_learner, explicit)


# -- cluster-margin, suggestive annotation, TypiClust ------------------------------------


@pytest.mark.parametrize("clustering", ["kmeans", "hierarchical"])
def test_cluster_margin_returns_one_point_per_cluster_among_the_most_uncertain(net, digits, clustering):
    from sklearn.cluster import KMeans

    X, _ = digits
    pool = X[300:1300]
    idx, scores = cluster_margin(net, pool, n_instances=8, beta=5, clustering=clustering, random_state=0)
    assert len(set(idx.tolist())) == 8
    uncertainty = 1 + measures.margin(predict_proba_samples(net, pool))
    candidates = set(top_n(uncertainty, 40, 0).tolist())
    assert set(idx.tolist()) <= candidates | set(np.flatnonzero(uncertainty >= np.sort(uncertainty)[-40]))
    np.testing.assert_allclose(scores, uncertainty[idx])
    if clustering == "kmeans":
        # the picks fall in 8 different clusters of a k-means of the candidates
        phi = embed(net, pool[idx])
        labels = KMeans(8, n_init=1, random_state=0).fit(embed(net, pool[sorted(candidates)])).predict(phi)
        assert len(set(labels.tolist())) >= 6


def test_suggestive_annotation_lazy_greedy_equals_plain_greedy(net, digits):
    X, _ = digits
    pool = X[300:800]
    idx, gains = suggestive_annotation(net, pool, n_instances=6, n_candidates=30, random_state=0,
                                       uncertainty=measures.entropy)
    phi = embed(net, pool)
    phi = phi / np.linalg.norm(phi, axis=1, keepdims=True)
    candidates = top_n(measures.entropy(predict_proba_samples(net, pool)), 30, 0)
    sims = phi[candidates] @ phi.T
    covered, chosen = np.zeros(len(pool)), []
    for _ in range(6):
        g = np.maximum(sims - covered, 0).sum(1)
        g[chosen] = -np.inf
        chosen.append(int(np.argmax(g)))
        covered = np.maximum(covered, sims[chosen[-1]])
    np.testing.assert_array_equal(idx, candidates[chosen])
    assert (np.diff(gains) <= 1e-4).all()  # submodular: gains never grow


def test_typiclust_picks_typical_points_of_uncovered_clusters():
    rng = np.random.RandomState(0)
    blobs = [rng.normal(c, 1.0, (60, 2)) for c in (0, 10, 20)]
    X = np.concatenate(blobs)
    labeled = X[:2]  # two points of the first blob
    model = LogisticRegression().fit(X[[0, 60, 120]], [0, 1, 2])
    idx, typicality = typiclust(model, X[2:], n_instances=2, X_labeled=labeled, representation="input",
                                random_state=0)
    blobs_picked = sorted((i + 2) // 60 for i in idx)
    assert blobs_picked == [1, 2]  # the uncovered blobs, not the labeled one
    for i in idx:  # each pick is near its blob's centre, not an outlier
        centre = X[((i + 2) // 60) * 60 : ((i + 2) // 60 + 1) * 60].mean(0)
        assert np.linalg.norm(X[i + 2] - centre) < 1.0


# -- expected model change ------------------------------------------------------------------


def test_egl_closed_form_equals_autograd_on_a_small_net(net, digits):
    X, _ = digits
    pool = X[300:340]
    idx, scores = egl(net, pool, n_instances=40, random_state=0)
    proba = predict_proba_samples(net, pool)[0]
    expected = [proba[i] @ np.linalg.norm(head_gradients(net, pool[i]), axis=1) for i in range(len(pool))]
    np.testing.assert_allclose(scores, np.asarray(expected)[idx], rtol=1e-4)


def test_emoc_equals_the_first_order_output_change_by_autograd(net, digits):
    X, _ = digits
    pool = X[300:330]
    idx, scores = emoc(net, pool, n_instances=30, n_reference=None, random_state=0)
    module = net.module_
    proba = predict_proba_samples(net, pool)[0]
    expected = []
    for i in range(len(pool)):
        grads = head_gradients(net, pool[i])  # ∇_θ L(x, y) for every y
        change = 0.0
        for j in range(len(pool)):  # ∇_θ f(x')ᵀ ∇_θ L: Jacobian of the logits by autograd
            phi = torch.as_tensor(embed(net, pool[j : j + 1]))
            jac = []
            for k in range(10):
                module.zero_grad()
                module.head(phi)[0, k].backward()
                jac.append(torch.cat([module.head.weight.grad.flatten(), module.head.bias.grad]).numpy().copy())
            out = np.asarray(jac) @ grads.T  # (K outputs, K labels)
            change += proba[i] @ np.abs(out).sum(0)
        expected.append(change / len(pool))
    np.testing.assert_allclose(scores, np.asarray(expected)[idx], rtol=1e-3)


# -- CAL, information density ------------------------------------------------------------------


def test_cal_is_the_mean_kl_to_the_labeled_neighbours(net, digits):
    X, _ = digits
    labeled, pool = X[:50], X[300:400]
    idx, scores = cal(net, pool, n_instances=5, X_labeled=labeled, n_neighbors=3)
    p_l, p_x = predict_proba_samples(net, labeled)[0], predict_proba_samples(net, pool)[0]
    d = cdist(embed(net, pool), embed(net, labeled))
    for i, s in zip(idx, scores):
        near = np.argsort(d[i])[:3]
        kl = [(p_l[j] * np.log(p_l[j] / np.maximum(p_x[i], 1e-12))).sum() for j in near]
        assert s == pytest.approx(np.mean(kl), rel=1e-3)
    with pytest.raises(ValueError, match="cal needs the labeled set"):
        cal(net, pool, n_instances=5)


def test_information_density_equals_modals_formula(digits):
    from sklearn.metrics import pairwise_distances

    X, y = digits
    model = LogisticRegression(max_iter=300).fit(X[:100], y[:100])
    pool = X[100:400]
    modal_density = (1 / (1 + pairwise_distances(pool, pool))).mean(axis=1)  # modAL.density
    idx, scores = information_density(model, pool, n_instances=10, random_state=0)
    expected = measures.entropy(model.predict_proba(pool)) * modal_density
    np.testing.assert_allclose(scores, expected[idx], rtol=1e-5)
    assert set(idx.tolist()) == set(np.argsort(-expected)[:10].tolist())
    density_only, _ = information_density(model, pool, n_instances=3, uncertainty=None, metric="cosine")
    cosine = (1 / (1 + pairwise_distances(pool, pool, metric="cosine"))).mean(axis=1)
    assert set(density_only.tolist()) == set(np.argsort(-cosine)[:3].tolist())


# -- power sampling ----------------------------------------------------------------------------


def test_power_sampling_tends_to_top_n_and_follows_the_scores():
    scores = np.random.default_rng(0).random(200)
    np.testing.assert_array_equal(power_sample(scores, 10, 1e7, 0), top_n(scores, 10, 0))
    # power 1, one draw: frequencies proportional to the scores
    small = np.array([1.0, 2.0, 7.0])
    counts = np.bincount([power_sample(small, 1, 1.0, s)[0] for s in range(4000)], minlength=3)
    np.testing.assert_allclose(counts / 4000, small / 10, atol=0.025)
    with pytest.raises(ValueError, match="non-negative scores"):
        power_sample(np.array([-1.0, 1.0]), 1, 1.0, 0)


@pytest.mark.parametrize("strategy, measure", [
    (power_bald, measures.bald),
    (power_entropy, measures.entropy),
    (power_margin, lambda P: 1 + measures.margin(P)),
])
def test_power_variants_draw_from_their_measure(strategy, measure, digits):
    from sklearn.ensemble import RandomForestClassifier

    X, y = digits
    forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(X[:200], y[:200])
    pool = X[200:800]
    full = measure(predict_proba_samples(forest, pool))
    idx, scores = strategy(forest, pool, n_instances=20, random_state=0)
    np.testing.assert_allclose(scores, full[idx])
    top, _ = strategy(forest, pool, n_instances=20, power=1e7, random_state=0)
    assert set(top.tolist()) == set(top_n(full, 20, 0).tolist()) or np.isclose(
        np.sort(full[top]), np.sort(full)[-20:]).all()
    assert set(idx.tolist()) != set(top.tolist())  # power 1 does not just take the top


# -- auto ----------------------------------------------------------------------------------


def test_auto_uses_typicality_on_a_low_budget_then_cluster_margin(net, digits):
    X, y = digits
    pool = X[300:800]
    few = X[:30]  # 3 labels per class: low budget
    many = X[:80]  # 8 per class
    np.testing.assert_array_equal(
        auto(net, pool, n_instances=5, X_labeled=few, random_state=0)[0],
        typiclust(net, pool, n_instances=5, X_labeled=few, representation="input", random_state=0)[0],
    )
    np.testing.assert_array_equal(
        auto(net, pool, n_instances=5, X_labeled=many, random_state=0)[0],
        cluster_margin(net, pool, n_instances=5, random_state=0)[0],
    )
    # past the low budget, predict params reach the model (e.g. MC dropout's n_samples)
    from skal.models import MCDropoutClassifier

    mcd = MCDropoutClassifier(max_epochs=2, n_samples=3, random_state=0).fit(X[:80], y[:80])
    one = auto(mcd, pool, n_instances=5, X_labeled=many, random_state=0, n_samples=1)
    np.testing.assert_array_equal(
        one[0], cluster_margin(mcd, pool, n_instances=5, random_state=0, n_samples=1)[0]
    )
    # the boundary is a parameter, labels per class
    np.testing.assert_array_equal(
        auto(net, pool, n_instances=5, X_labeled=few, labels_per_class=2, random_state=0)[0],
        cluster_margin(net, pool, n_instances=5, random_state=0)[0],
    )
