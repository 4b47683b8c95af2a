"""run_experiment: splits, run logs, resume after Ctrl-C or kill, parallel runs."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from skal.experiments import initial_split, load_results, read_run_file, run_experiment
from skal.experiments._records import TIMING_FIELDS


def least_confident(classifier, X_pool, n_instances=1, *, random_state=None):
    """A tiny local strategy, so the harness is tested without skal.strategies."""
    proba = classifier.predict_proba(X_pool)
    scores = 1.0 - proba.max(axis=1)
    rng = np.random.default_rng(random_state)
    # Random tie-breaking makes the strategy's random_state matter.
    order = np.lexsort((rng.random(len(scores)), -scores))[:n_instances]
    return order, scores[order]


def random_pick(classifier, X_pool, n_instances=1, *, random_state=None):
    rng = np.random.default_rng(random_state)
    idx = rng.choice(len(X_pool), size=n_instances, replace=False)
    return idx, np.zeros(n_instances)


def labeled_aware(classifier, X_pool, n_instances=1, *, random_state=None, X_labeled=None, y_labeled=None):
    labeled_aware.seen.append(len(X_labeled))
    return np.arange(n_instances), np.ones(n_instances)


labeled_aware.seen = []


class Interrupt:
    """Raises KeyboardInterrupt (a Ctrl-C) on the k-th call."""

    def __init__(self, k):
        self.k, self.calls = k, 0
        self.__name__ = "least_confident"

    def __call__(self, classifier, X_pool, n_instances=1, *, random_state=None):
        self.calls += 1
        if self.calls == self.k:
            raise KeyboardInterrupt
        return least_confident(classifier, X_pool, n_instances, random_state=random_state)


def _strip(records):
    return [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in records]


FOREST = RandomForestClassifier(n_estimators=8, max_depth=6)
SETTINGS = {"n_initial": 10, "batch_size": 10, "budget": 70, "progress": False}


def test_records_content_and_files(digits, tmp_path):
    X, y = digits
    res = run_experiment(FOREST, X, y, strategies=[least_confident, random_pick],
                         seeds=[0, 1], output_dir=tmp_path, **{**SETTINGS, "budget": 40})
    runs = res.runs()
    assert set(runs) == {(s, k) for s in ("least_confident", "random_pick") for k in (0, 1)}
    recs = runs[("least_confident", 0)]
    assert [r["n_labels"] for r in recs] == [10, 20, 30, 40]
    assert [r["round"] for r in recs] == list(range(4))
    labeled = np.concatenate([r["queried"] for r in recs])
    assert len(np.unique(labeled)) == 40
    assert recs[-1]["accuracy"] > recs[0]["accuracy"] + 0.1  # 40 labels beat 10
    assert recs[-1]["nll"] < recs[0]["nll"]
    assert all(r["train_seconds"] > 0 for r in recs)
    assert recs[0]["query_seconds"] == 0 and all(r["query_seconds"] > 0 for r in recs[1:])
    assert recs[0]["scores"] is None and len(recs[1]["scores"]) == 10
    # The balanced seed set, and the same seed set for every strategy of a seed.
    assert np.bincount(y[recs[0]["queried"]]).tolist() == [1] * 10
    assert runs[("random_pick", 0)][0]["queried"] == recs[0]["queried"]
    assert runs[("least_confident", 1)][0]["queried"] != recs[0]["queried"]
    files = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert files == ["least_confident__seed0.jsonl", "least_confident__seed1.jsonl",
                     "random_pick__seed0.jsonl", "random_pick__seed1.jsonl"]
    header, rounds = read_run_file(tmp_path / "runs" / files[0])
    assert header["settings"]["batch_size"] == 10 and len(rounds) == 4
    assert _strip(load_results(tmp_path).records) == _strip(
        sorted(res.records, key=lambda r: (r["strategy"], r["seed"], r["round"]))
    )
    assert json.loads((tmp_path / "experiment.json").read_text())["budget"] == 40


def test_resume_after_keyboard_interrupt_matches_uninterrupted_run(digits, tmp_path):
    X, y = digits
    reference = run_experiment(FOREST, X, y, strategies=least_confident, seeds=3,
                               output_dir=tmp_path / "ref", **SETTINGS)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(FOREST, X, y, strategies={"least_confident": Interrupt(4)}, seeds=3,
                       output_dir=tmp_path / "cut", **SETTINGS)
    _, partial = read_run_file(tmp_path / "cut" / "runs" / "least_confident__seed3.jsonl")
    assert [r["round"] for r in partial] == [0, 1, 2, 3]

    calls = Interrupt(10**9)
    resumed = run_experiment(FOREST, X, y, strategies={"least_confident": calls}, seeds=3,
                             output_dir=tmp_path / "cut", **SETTINGS)
    assert calls.calls == 3  # only the rounds that were missing
    assert _strip(resumed.records) == _strip(reference.records)
    _, on_disk = read_run_file(tmp_path / "cut" / "runs" / "least_confident__seed3.jsonl")
    assert _strip(on_disk) == _strip(reference.records)

    # A finished run resumes to nothing new.
    again = Interrupt(1)
    run_experiment(FOREST, X, y, strategies={"least_confident": again}, seeds=3,
                   output_dir=tmp_path / "cut", **SETTINGS)
    assert again.calls == 0


def test_truncated_last_line_is_dropped_and_redone(digits, tmp_path):
    X, y = digits
    full = run_experiment(FOREST, X, y, strategies=random_pick, output_dir=tmp_path, **SETTINGS)
    path = tmp_path / "runs" / "random_pick__seed0.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    # Killed in the middle of writing round 5: half a line on disk.
    path.write_text("".join(lines[:6]) + lines[6][: len(lines[6]) // 2])
    resumed = run_experiment(FOREST, X, y, strategies=random_pick, output_dir=tmp_path, **SETTINGS)
    assert _strip(resumed.records) == _strip(full.records)


def test_changed_settings_refuse_to_mix(digits, tmp_path):
    X, y = digits
    run_experiment(LogisticRegression(max_iter=100), X, y, strategies=random_pick,
                   output_dir=tmp_path, **{**SETTINGS, "budget": 30})
    with pytest.raises(ValueError, match=r"batch_size: 10 -> 5.*--no-resume"):
        run_experiment(LogisticRegression(max_iter=100), X, y, strategies=random_pick,
                       output_dir=tmp_path, **{**SETTINGS, "budget": 30, "batch_size": 5})
    with pytest.raises(ValueError, match=r"estimator: 'LogisticRegression\(\)' -> 'LogisticRegression\(C=2"):
        run_experiment(LogisticRegression(max_iter=100, C=2.0), X, y, strategies=random_pick,
                       output_dir=tmp_path, **{**SETTINGS, "budget": 30})
    with pytest.raises(ValueError, match="data"):
        run_experiment(LogisticRegression(max_iter=100), X, (y + 1) % 10, strategies=random_pick,
                       output_dir=tmp_path, **{**SETTINGS, "budget": 30})
    res = run_experiment(LogisticRegression(max_iter=100), X, y, strategies=random_pick, output_dir=tmp_path,
                         resume=False, **{**SETTINGS, "budget": 30, "batch_size": 5})
    assert [r["n_labels"] for r in res.records] == [10, 15, 20, 25, 30]


_KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier
    from skal.experiments import run_experiment

    def slow_random(classifier, X_pool, n_instances=1, *, random_state=None):
        if SLOW:
            time.sleep(0.4)
        rng = np.random.default_rng(random_state)
        return rng.choice(len(X_pool), size=n_instances, replace=False), None

    SLOW = sys.argv[2] == "slow"
    X, y = load_digits(return_X_y=True)
    run_experiment(RandomForestClassifier(n_estimators=5), X / 16, y, strategies=slow_random,
                   n_initial=10, batch_size=10, budget=80, output_dir=sys.argv[1], progress=False)
    """
)


def test_resume_after_process_killed(tmp_path):
    script = tmp_path / "campaign.py"
    script.write_text(_KILL_SCRIPT)
    subprocess.run([sys.executable, str(script), str(tmp_path / "ref"), "fast"], check=True)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "cut"), "slow"])
    log = tmp_path / "cut" / "runs" / "slow_random__seed0.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline:
        if log.exists() and len(read_run_file(log)[1]) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_before = len(read_run_file(log)[1])
    assert 3 <= n_before < 8
    subprocess.run([sys.executable, str(script), str(tmp_path / "cut"), "fast"], check=True)
    assert _strip(read_run_file(log)[1]) == _strip(
        read_run_file(tmp_path / "ref" / "runs" / "slow_random__seed0.jsonl")[1]
    )


def _wait_for_rounds(log, n, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if log.exists() and len(read_run_file(log)[1]) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"{log} did not reach {n} rounds (exit status {proc.poll()})")


def test_a_second_run_on_a_folder_in_use_is_refused_and_a_killed_runs_lock_taken_over(digits, tmp_path):
    X, y = digits
    script = tmp_path / "campaign.py"
    script.write_text(_KILL_SCRIPT)
    folder = tmp_path / "cut"
    log = folder / "runs" / "slow_random__seed0.jsonl"
    holder = subprocess.Popen([sys.executable, str(script), str(folder), "slow"])
    try:
        _wait_for_rounds(log, 2, holder)
        manifest = (folder / "experiment.json").read_text()
        # Refused at once, before it writes anything, naming the holder and the way out.
        refusal = (rf"{re.escape(str(folder))} is in use by another run \(pid {holder.pid}\).*"
                   r"Wait for that run to finish, or write to another folder")
        with pytest.raises(RuntimeError, match=refusal):
            run_experiment(LogisticRegression(max_iter=100), X, y, strategies=random_pick,
                           output_dir=folder, **{**SETTINGS, "budget": 30})
        assert (folder / "experiment.json").read_text() == manifest
        assert holder.poll() is None  # the holder was not disturbed
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The OS dropped the killed run's lock: the next run takes the folder over
    # and resumes; its rounds follow the killed run's in sequence.
    n_before = len(read_run_file(log)[1])
    assert n_before < 8
    subprocess.run([sys.executable, str(script), str(folder), "fast"], check=True)
    assert [r["n_labels"] for r in read_run_file(log)[1]] == list(range(10, 81, 10))
    assert (folder / ".lock").read_text() == ""  # released: no owner left in it


def test_interleaved_run_log_is_reported_with_the_file_and_the_way_out(digits, tmp_path):
    X, y = digits
    kw = {**SETTINGS, "budget": 30}
    run_experiment(FOREST, X, y, strategies=random_pick, output_dir=tmp_path, **kw)
    path = tmp_path / "runs" / "random_pick__seed0.jsonl"
    header, r0, r1, r2 = path.read_text().splitlines(keepends=True)
    # What two processes appending to one log leave: round 1 twice.
    path.write_text(header + r0 + r1 + r1 + r2)
    named = re.escape(str(path))
    message = rf"{named}, line 4: round 1 where round 2 should come.*Delete {named}.*--no-resume"
    with pytest.raises(ValueError, match=message):
        load_results(tmp_path)  # what skal report reads
    with pytest.raises(ValueError, match=message):
        run_experiment(FOREST, X, y, strategies=random_pick, output_dir=tmp_path, **kw)
    # Both ways out work.
    res = run_experiment(FOREST, X, y, strategies=random_pick, output_dir=tmp_path, resume=False, **kw)
    assert [r["n_labels"] for r in res.records] == [10, 20, 30]
    path.unlink()
    assert [r["round"] for r in run_experiment(FOREST, X, y, strategies=random_pick, output_dir=tmp_path,
                                               **kw).records] == [0, 1, 2]


def test_parallel_runs_equal_sequential(digits, tmp_path):
    X, y = digits
    kw = dict(strategies=[least_confident, random_pick], seeds=[0, 1], **{**SETTINGS, "budget": 30})
    seq = run_experiment(FOREST, X, y, **kw)
    par = run_experiment(FOREST, X, y, n_jobs=2, output_dir=tmp_path, **kw)
    assert _strip(par.records) == _strip(seq.records)


def test_fixed_test_set_pool_subset_and_labeled_options(digits):
    X, y = digits
    labeled_aware.seen.clear()
    res = run_experiment(LogisticRegression(max_iter=100), X[:1000], y[:1000], X_test=X[1000:],
                         y_test=y[1000:], strategies=labeled_aware, pool_subset=50,
                         balanced_initial=False, **{**SETTINGS, "budget": 40})
    assert labeled_aware.seen == [10, 20, 30]
    # With a pool subset, labeled_aware's "first 10 candidates" differ by round.
    queried = [r["queried"] for r in res.records[1:]]
    assert all(max(q) < 1000 for q in queried)
    assert len({tuple(q) for q in queried}) == 3


def test_factory_and_warm_start(digits):
    X, y = digits
    made = []

    def factory(random_state=None):
        made.append(random_state)
        return LogisticRegression(max_iter=100, random_state=random_state)

    run_experiment(factory, X, y, strategies=random_pick, seeds=[0, 1], **{**SETTINGS, "budget": 30})
    # one model per run (fit retrains it from scratch each round), seeded per run
    assert len(made) == 2 and len(set(made)) == 2
    res = run_experiment(LogisticRegression(max_iter=100), X, y, strategies=random_pick,
                         warm_start=True, **{**SETTINGS, "budget": 30})
    assert len(res.records) == 3
    from sklearn.svm import SVC

    with pytest.raises(ValueError, match="warm_start parameter"):
        run_experiment(SVC(probability=True), X, y, strategies=random_pick, warm_start=True, **SETTINGS)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"budget": 5}, ValueError, "budget == 5, must be >= 10. The budget counts the seed set"),
        ({"batch_size": 0}, ValueError, "batch_size == 0, must be >= 1"),
        ({"batch_size": 2.0}, TypeError, "batch_size must be an instance of int"),
        ({"budget": 5000}, ValueError, "budget=5000 exceeds the pool size"),
        ({"pool_subset": 3}, ValueError, "pool_subset == 3, must be >= 10"),
        ({"n_initial": 5}, ValueError, "at least one label per class"),
        ({"test_size": 1.5}, ValueError, "test_size == 1.5, must be < 1"),
        ({"warm_start": 1}, TypeError, "warm_start must be an instance of bool"),
        ({"seeds": []}, ValueError, "seeds is empty"),
        ({"seeds": [0.5]}, TypeError, "seeds must be an instance of int"),
        ({"strategies": []}, ValueError, "strategies is empty"),
        ({"strategies": [random_pick, random_pick]}, ValueError, "names must be unique"),
    ],
)
def test_bad_parameters(digits, kwargs, error, match):
    X, y = digits
    kw = {**SETTINGS, "strategies": random_pick, **kwargs}
    with pytest.raises(error, match=match):
        run_experiment(LogisticRegression(), X, y, **kw)


def test_nan_input_and_bad_strategy(digits):
    X, y = digits
    Xn = X.copy()
    Xn[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        run_experiment(LogisticRegression(), Xn, y, strategies=random_pick, **SETTINGS)

    def duplicate(classifier, X_pool, n_instances=1, *, random_state=None):
        return np.zeros(n_instances, dtype=int), None

    with pytest.raises(ValueError, match="repeated positions"):
        run_experiment(LogisticRegression(max_iter=100), X, y, strategies=duplicate, **SETTINGS)


def test_a_bare_pair_of_indices_is_two_queries_not_idx_and_scores(digits, tmp_path):
    # modAL's bug: ``idx, metrics = strategy(...)`` reads (3, 7) as index 3, score 7.
    X, y = digits

    def first_two(classifier, X_pool, n_instances=1, *, random_state=None):
        return (0, 1)

    results = run_experiment(
        LogisticRegression(max_iter=200),
        X,
        y,
        strategies={"first_two": first_two},
        **{**SETTINGS, "batch_size": 2, "budget": SETTINGS["n_initial"] + 2, "output_dir": tmp_path},
    )
    recs = results.runs()[("first_two", 0)]
    assert [r["n_labels"] for r in recs] == [10, 12]
    assert len(recs[-1]["queried"]) == 2 and recs[-1]["scores"] is None


def test_initial_split_unbalanced_and_errors():
    y = np.repeat([0, 1], [3, 30])
    idx = initial_split(y, np.arange(33), 8, balanced=False, random_state=0)
    assert len(np.unique(idx)) == 8
    with pytest.raises(ValueError, match="class 0 has only 3"):
        initial_split(y, np.arange(33), 8, random_state=0)


class SwallowsCtrlC(LogisticRegression):
    """Like skorch's fit loop: catches KeyboardInterrupt and returns as if done."""

    def fit(self, X, y):
        try:
            if len(y) == 30:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(1)  # the signal is delivered during "training"
        except KeyboardInterrupt:
            pass
        return super().fit(X, y)


def test_ctrl_c_swallowed_by_the_model_still_stops_the_run(digits, tmp_path, ctrl_c_delivered):
    X, y = digits
    with pytest.raises(KeyboardInterrupt):
        run_experiment(SwallowsCtrlC(max_iter=100), X, y, strategies=random_pick, output_dir=tmp_path, **SETTINGS)
    _, rounds = read_run_file(tmp_path / "runs" / "random_pick__seed0.jsonl")
    # The round whose training was interrupted (30 labels) is not recorded as done.
    assert [r["n_labels"] for r in rounds] == [10, 20]
