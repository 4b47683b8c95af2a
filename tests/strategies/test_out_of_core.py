"""Pools beyond memory and beyond one machine: memmaps, image files on disk, dask arrays on a cluster.

Every check compares with the same pool as an in-memory array: the same
``random_state`` must select the same rows, in the same order.
"""

import os

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier

from skal.strategies import (
    auto,
    badge,
    bald,
    batch_bald,
    cal,
    cluster_margin,
    coreset,
    egl,
    emoc,
    entropy,
    information_density,
    learning_loss,
    power_bald,
    random_sampling,
    suggestive_annotation,
)

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

CASES = {
    "random": (random_sampling, {}),
    "entropy": (entropy, {}),
    "bald": (bald, {}),
    "power_bald": (power_bald, {}),
    "batch_bald": (batch_bald, {"n_candidates": 200}),
    "coreset": (coreset, {"labeled": True}),
    "badge": (badge, {}),
    "cluster_margin": (cluster_margin, {}),
    "auto": (auto, {"labeled": True}),  # 150 labels: cluster_margin's regime
    "egl": (egl, {}),
    "emoc": (emoc, {"n_reference": 300}),
    "information_density": (information_density, {"n_reference": 300}),
    "suggestive_annotation": (suggestive_annotation, {"n_reference": 300}),
    "cal": (cal, {"labeled": True}),
    "learning_loss": (learning_loss, {"labeled": True, "loss_model": {"max_epochs": 2}}),
}


@pytest.fixture(scope="module")
def problem(digits):
    X, y = digits
    forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(X[:150], y[:150])
    return forest, X[:150], X[150:1350]


def _query(name, model, pool, labeled, n=8):
    strategy, options = CASES[name]
    options = dict(options)
    if options.pop("labeled", False):
        options["X_labeled"] = labeled
        if strategy is learning_loss:
            options["y_labeled"] = model.predict(labeled)
    return strategy(model, pool, n, random_state=3, **options)


@pytest.fixture(scope="module")
def client():
    """A real cluster of two worker processes (no mocks)."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        yield client


@pytest.mark.parametrize("name", CASES)
def test_a_dask_pool_on_a_cluster_selects_what_memory_selects(name, problem, client):
    model, labeled, pool = problem
    expected = _query(name, model, pool, labeled)
    got = _query(name, model, da.from_array(pool, chunks=(250, pool.shape[1])), labeled)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-5)


@pytest.mark.parametrize("name", ["entropy", "coreset"])
def test_a_dask_pool_without_a_cluster_uses_the_local_scheduler(name, problem):
    model, labeled, pool = problem
    with _local_scheduler():
        got = _query(name, model, da.from_array(pool, chunks=300), labeled)
    np.testing.assert_array_equal(got[0], _query(name, model, pool, labeled)[0])


def _local_scheduler():
    """Dask's local threaded scheduler, even while a Client exists (the module's cluster)."""
    import dask

    return dask.config.set(scheduler="threads")


class DiesOnce:
    """A model whose first prediction in a worker process kills that process."""

    def __init__(self, model, flag):
        self.model, self.flag, self.classes_ = model, str(flag), model.classes_

    def predict_proba(self, X):
        if _in_worker():
            if not os.path.exists(self.flag):
                open(self.flag, "w").close()
                os._exit(1)  # the worker process dies mid-scoring
        return self.model.predict_proba(X)


def _in_worker():
    try:
        distributed.get_worker()
        return True
    except ValueError:
        return False


def test_a_worker_that_dies_mid_scoring_has_its_blocks_recomputed(problem, client, tmp_path):
    model, labeled, pool = problem
    dying = DiesOnce(model, tmp_path / "died")
    got = entropy(dying, da.from_array(pool, chunks=(250, pool.shape[1])), 8, random_state=3)
    assert (tmp_path / "died").exists()  # a worker did die
    client.wait_for_workers(2, timeout=60)
    expected = entropy(model, pool, 8, random_state=3)
    np.testing.assert_array_equal(got[0], expected[0])  # never a short or duplicated selection


@pytest.mark.parametrize("name", ["entropy", "batch_bald", "coreset", "badge"])
def test_a_memory_mapped_pool_selects_what_memory_selects(name, problem, tmp_path):
    model, labeled, pool = problem
    path = tmp_path / "pool.npy"
    np.save(path, pool)
    mapped = np.load(path, mmap_mode="r")  # read-only, read chunk by chunk
    got = _query(name, model, mapped, labeled)
    np.testing.assert_array_equal(got[0], _query(name, model, pool, labeled)[0])


@pytest.fixture(scope="module")
def mnist_files(tmp_path_factory):
    """300 real MNIST images written as PNG files, and the same images as an array."""
    from skal.datasets import image_folder, load_dataset, write_image_folder

    try:
        folder = write_image_folder("mnist", tmp_path_factory.mktemp("mnist_png"), limit=300)
    except FileNotFoundError as exc:
        pytest.skip(f"MNIST files not found: {exc}")
    dataset = image_folder(folder)
    images = np.stack([dataset[i][0].numpy() for i in range(len(dataset))])
    return dataset, images, np.asarray(dataset.targets)


def test_mnist_written_as_files_reads_back_as_the_same_images(mnist_files):
    from skal.datasets import load_dataset

    dataset, images, targets = mnist_files
    data = load_dataset("mnist")
    # the folder orders files by class, then by index in the training set
    order = np.argsort(data.y_train[:300], kind="stable")
    np.testing.assert_array_equal(targets, data.y_train[:300][order])
    np.testing.assert_allclose(images, data.X_train[:300][order], atol=1 / 255)


@pytest.mark.parametrize("name", ["bald", "batch_bald", "coreset", "badge"])
def test_an_image_folder_pool_of_real_files_selects_what_memory_selects(name, mnist_files):
    from skal.models import GalCNN, MCDropoutClassifier

    dataset, images, targets = mnist_files
    model = MCDropoutClassifier(GalCNN, max_epochs=2, n_samples=4, random_state=0)
    model.fit(images[::10], targets[::10])
    got = _query(name, model, dataset, images[::10], n=5)
    np.testing.assert_array_equal(got[0], _query(name, model, images, images[::10], n=5)[0])


def test_a_learner_queries_an_image_folder_and_is_taught_its_rows(mnist_files):
    from skal import ActiveLearner
    from skal.models import GalCNN, MCDropoutClassifier

    dataset, images, targets = mnist_files
    learner = ActiveLearner(
        MCDropoutClassifier(GalCNN, max_epochs=2, n_samples=4, random_state=0),
        query_strategy="bald", X_training=images[::10], y_training=targets[::10],
    )
    idx, X_query = learner.query(dataset, n_instances=4)
    np.testing.assert_allclose(np.asarray(X_query), images[idx])
    learner.teach(X_query, targets[idx])
    assert len(learner.y_training) == 30 + 4
