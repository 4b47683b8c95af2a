"""dask is an optional extra: every documented path runs without it (issue 19, defect 3)."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from skal.experiments._campaign import candidate_rows


@pytest.fixture
def no_dask(tmp_path):
    """A PYTHONPATH under which ``import dask`` fails, as where the extra is not installed.

    A process started with it (and the joblib workers it starts, which
    inherit its environment) finds this package before the real one.
    """
    fake = tmp_path / "no_dask" / "dask"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise ModuleNotFoundError("No module named \'dask\'")\n')
    return str(fake.parent)


def _run(code, pythonpath):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([pythonpath, os.getcwd()])}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
        timeout=600,
    )


def test_parallel_runs_over_memmapped_data_need_no_dask(no_dask):
    # 3,000 x 64 float64 rows: past joblib's 1 MB threshold, so each worker
    # is handed the data as a memmap
    code = """
        import numpy as np
        from sklearn.linear_model import LogisticRegression
        from skal.experiments import run_experiment
        try:
            import dask  # noqa: F401
            raise SystemExit("dask is importable: the test would prove nothing")
        except ImportError:
            pass
        rng = np.random.default_rng(0)
        X = rng.normal(size=(3000, 64))
        y = (X[:, 0] + X[:, 1] > 0).astype(int)
        assert X.nbytes > 1e6
        res = run_experiment(LogisticRegression(max_iter=200), X, y, strategies=["random", "margin"],
                             n_initial=10, batch_size=10, budget=30, seeds=[0], n_jobs=2,
                             progress=False)
        serial = run_experiment(LogisticRegression(max_iter=200), X, y,
                                strategies=["random", "margin"], n_initial=10, batch_size=10,
                                budget=30, seeds=[0], progress=False)
        assert [r["queried"] for r in res.records] == [r["queried"] for r in serial.records]
        print("rounds", len(res.records))
    """
    done = _run(code, no_dask)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rounds 6" in done.stdout


def test_a_memmap_is_indexed_when_dask_is_missing(tmp_path, monkeypatch):
    path = tmp_path / "pool.npy"
    np.save(path, np.arange(40.0).reshape(20, 2))
    pool = np.load(path, mmap_mode="r")
    monkeypatch.setitem(sys.modules, "dask", None)  # import dask -> ImportError
    monkeypatch.setitem(sys.modules, "dask.array", None)
    rows = candidate_rows(pool, np.array([3, 7]))
    assert isinstance(rows, np.ndarray)
    np.testing.assert_array_equal(rows, [[6.0, 7.0], [14.0, 15.0]])
