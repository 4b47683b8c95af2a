"""The harness on data beyond memory (memmaps, dask arrays, image files) and on a Dask cluster."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from skal.experiments import read_run_file, run_experiment
from skal.experiments._records import TIMING_FIELDS

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

SETTINGS = dict(strategies=["entropy", "coreset", "badge"], seeds=[0, 1], n_initial=10,
                batch_size=10, budget=40, progress=False)


def _strip(records):
    return sorted(
        (r["strategy"], r["seed"], r["round"], tuple(r["queried"]), round(r["accuracy"], 9))
        for r in records
    )


@pytest.fixture(scope="module")
def reference(digits):
    X, y = digits
    return run_experiment(LogisticRegression(max_iter=300), X, y, **SETTINGS).records


@pytest.mark.parametrize("container", ["memmap", "dask"])
def test_out_of_core_data_gives_the_same_campaign(digits, reference, tmp_path, container):
    X, y = digits
    np.save(tmp_path / "X.npy", X)
    data = np.load(tmp_path / "X.npy", mmap_mode="r")
    if container == "dask":
        data = da.from_array(np.asarray(data), chunks=(400, X.shape[1]))
    records = run_experiment(LogisticRegression(max_iter=300), data, y, **SETTINGS).records
    assert _strip(records) == _strip(reference)


def test_runs_on_a_cluster_write_their_logs_here_and_resume_exactly(digits, reference, tmp_path):
    X, y = digits
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        first = run_experiment(LogisticRegression(max_iter=300), X, y, output_dir=tmp_path,
                               client=client, **SETTINGS)
        assert _strip(first.records) == _strip(reference)
        # every round reached the log, written by this process
        path = tmp_path / "runs" / "coreset__seed1.jsonl"
        assert [r["round"] for r in read_run_file(path)[1]] == [0, 1, 2, 3]
        # a run cut after round 1 resumes on the cluster and ends as the uninterrupted one
        lines = path.read_text().splitlines()
        path.write_text("\n".join(lines[:3]) + "\n")
        again = run_experiment(LogisticRegression(max_iter=300), X, y, output_dir=tmp_path,
                               client=client, **SETTINGS)
    assert _strip(again.records) == _strip(reference)
    on_disk = read_run_file(path)[1]
    assert [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in on_disk] == [
        {k: v for k, v in r.items() if k not in TIMING_FIELDS}
        for r in first.records if r["strategy"] == "coreset" and r["seed"] == 1
    ]


def test_an_image_folder_is_a_campaign_pool(tmp_path):
    from skal.datasets import image_folder, write_image_folder

    try:
        folder = write_image_folder("mnist", tmp_path / "png", limit=400)
    except FileNotFoundError as exc:
        pytest.skip(f"MNIST files not found: {exc}")
    dataset = image_folder(folder)
    images = np.stack([dataset[i][0].numpy().ravel() for i in range(len(dataset))])
    y = np.asarray(dataset.targets)
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    flat = make_pipeline(FunctionTransformer(lambda X: np.asarray(X).reshape(len(X), -1)),
                         LogisticRegression(max_iter=300))
    settings = dict(SETTINGS, strategies=["entropy", "coreset"], seeds=[0])
    from_files = run_experiment(flat, dataset, y, **settings).records
    from_memory = run_experiment(flat, images.reshape(-1, 1, 28, 28), y, **settings).records
    assert _strip(from_files) == _strip(from_memory)
