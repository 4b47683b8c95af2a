"""TabularToImage: a layout of the features learned from the data, rows drawn as images."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from skal import ActiveLearner
from skal.models import DeepProbabilisticEnsemble, SmallCNN
from skal.preprocessing import TabularToImage


@parametrize_with_checks([TabularToImage(), TabularToImage(method="tsne", random_state=0)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _grouped_features(n_groups=6, per_group=3, n_noise=12, n_samples=300, seed=0):
    """Groups of strongly correlated features (noisy copies of one factor) and independent ones."""
    rng = np.random.RandomState(seed)
    factors = rng.randn(n_samples, n_groups)
    copies = np.repeat(factors, per_group, axis=1) + 0.2 * rng.randn(n_samples, n_groups * per_group)
    X = np.hstack([copies, rng.randn(n_samples, n_noise)])
    order = rng.permutation(X.shape[1])  # hide the groups in the column order
    group = np.concatenate([np.repeat(np.arange(n_groups), per_group), -1 - np.arange(n_noise)])
    return X[:, order], group[order]


@pytest.mark.parametrize("method", ["kpca", "tsne"])
def test_strongly_correlated_features_land_closer_than_uncorrelated_ones(method):
    X, group = _grouped_features()
    positions = TabularToImage(method=method, random_state=0).fit(X).positions_
    dist = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    same = (group[:, None] == group[None]) & ~np.eye(len(group), dtype=bool)
    different = group[:, None] != group[None]
    assert dist[same].mean() < 0.6 * dist[different].mean()
    # each member of a group is nearer to its group than an average feature is
    assert (np.array([dist[i, same[i]].mean() for i in range(len(group)) if same[i].any()])
            < dist[different].mean()).all()


@pytest.mark.parametrize("method", ["kpca", "tsne"])
def test_the_layout_is_deterministic_for_a_random_state(method):
    X, _ = _grouped_features(seed=1)
    first = TabularToImage(method=method, random_state=7).fit(X)
    second = TabularToImage(method=method, random_state=7).fit(X)
    np.testing.assert_array_equal(first.positions_, second.positions_)
    np.testing.assert_array_equal(first.transform(X), second.transform(X))


def test_every_feature_has_its_own_pixel_and_its_value_is_drawn_there():
    X, _ = _grouped_features()
    X = X.astype(np.float32)
    before = X.copy()
    tti = TabularToImage(image_size=(5, 7)).fit(X)
    images = tti.transform(X)
    np.testing.assert_array_equal(X, before)
    assert images.shape == (len(X), 1, 5, 7) and images.dtype == np.float32
    assert len({tuple(p) for p in tti.positions_}) == X.shape[1]
    np.testing.assert_array_equal(images[:, 0, tti.positions_[:, 0], tti.positions_[:, 1]], X)
    empty = np.ones((5, 7), dtype=bool)
    empty[tti.positions_[:, 0], tti.positions_[:, 1]] = False
    assert not images[:, 0][:, empty].any()


def test_the_layout_can_be_read_and_drawn():
    pd = pytest.importorskip("pandas")
    X, _ = _grouped_features()
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    tti = TabularToImage().fit(frame)
    names = tti.get_feature_names_out()
    assert names.shape == (36,)  # 30 features on the smallest square, 6x6
    grid = names.reshape(6, 6)
    for j, (r, c) in enumerate(tti.positions_):
        assert grid[r, c] == f"f{j}"
    assert sum(n.startswith("empty_") for n in names) == 6
    ax = tti.plot_layout()
    assert sorted(t.get_text() for t in ax.texts) == sorted(frame.columns)


@pytest.mark.parametrize(
    "params, X, error, match",
    [
        ({"method": "umap"}, None, ValueError, "method must be one of kpca, tsne"),
        ({"image_size": 2}, None, ValueError, "gives 4 pixels for 30 features"),
        ({"image_size": (0, 9)}, None, ValueError, "image_size == 0"),
        ({"image_size": "big"}, None, TypeError, "image_size must be None, an int or a pair"),
        ({}, np.ones((1, 4)), ValueError, "minimum of 2 is required"),
    ],
)
def test_bad_input_is_rejected_clearly(params, X, error, match):
    X = _grouped_features()[0] if X is None else X
    with pytest.raises(error, match=match):
        TabularToImage(**params).fit(X)


def test_input_feature_names_must_match():
    tti = TabularToImage().fit(_grouped_features()[0])
    with pytest.raises(ValueError, match="length n_features_in_=30"):
        tti.get_feature_names_out(["a", "b"])


def _image_pipeline(**net):
    return make_pipeline(
        StandardScaler(),
        TabularToImage(),
        DeepProbabilisticEnsemble(module=SmallCNN, module__widths=(4, 8), n_estimators=2, max_epochs=2,
                                  random_state=0, device="cpu", **net),
    )


def test_the_image_pipeline_works_in_an_active_learner():
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    X = X.astype(np.float32)
    learner = ActiveLearner(_image_pipeline(), query_strategy="bald", X_training=X[:20],
                            y_training=y[:20], random_state=0)
    idx, _ = learner.query(X[20:200], n_instances=5)
    learner.teach(X[20:200][idx], y[20:200][idx])
    assert learner.estimator[1].image_shape_ == (1, 6, 6)
    assert learner.predict_proba(X[:3]).shape == (3, 2)


def test_the_image_pipeline_works_in_a_grid_search():
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    search = GridSearchCV(_image_pipeline(), {"tabulartoimage__method": ["kpca", "tsne"]}, cv=2)
    search.fit(X[:80].astype(np.float32), y[:80])
    assert set(search.cv_results_["param_tabulartoimage__method"]) == {"kpca", "tsne"}
    assert 0 <= search.best_score_ <= 1


def test_a_layout_learned_on_the_pool_stays_frozen_through_the_rounds():
    from sklearn.datasets import load_breast_cancer
    from sklearn.frozen import FrozenEstimator

    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    layout = TabularToImage().fit(X)  # the whole pool, no label used
    positions = layout.positions_.copy()
    model = make_pipeline(FrozenEstimator(layout), _image_pipeline()[-1])
    learner = ActiveLearner(model, query_strategy="entropy", X_training=X[:30], y_training=y[:30])
    idx, _ = learner.query(X[30:], n_instances=3)
    learner.teach(X[30:][idx], y[30:][idx])
    np.testing.assert_array_equal(learner.estimator[0].estimator.positions_, positions)
