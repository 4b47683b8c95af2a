"""Several strategies x several seeds of labeling campaigns, in parallel if asked."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import numbers
from contextlib import nullcontext
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils import check_array, column_or_1d

from .._containers import is_dask, is_dataset, num_rows
from .._validation import check_finite, check_scalar
from ..models._label_maps import is_label_maps
from ._campaign import (
    _SPLIT,
    CampaignData,
    CampaignSettings,
    RunSetup,
    RunSpec,
    round_seed,
    run_campaign,
    strategy_name,
)
from ._records import OutputFolderLock, RunLog, _jsonable, read_run_file
from ._report import ExperimentResults

__all__ = ["initial_split", "load_results", "run_experiment"]


def initial_split(y, pool_idx, n_initial, *, balanced=True, random_state=None):
    """Choose the seed set of a campaign among ``pool_idx``.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels of all samples.
    pool_idx : array-like of int
        Positions eligible for the seed set.
    n_initial : int
        Size of the seed set.
    balanced : bool, default=True
        Take ``n_initial // K`` of each of the K classes (the remainder from
        randomly chosen classes), as the MNIST protocol of Gal et al. 2017's
        20 balanced labels; False draws uniformly from the pool.
    random_state : int, RandomState or None

    Returns
    -------
    initial_idx : ndarray of int

    Examples
    --------
    >>> import numpy as np
    >>> from skal.experiments import initial_split
    >>> y = np.repeat([0, 1, 2], 10)
    >>> idx = initial_split(y, np.arange(30), 6, random_state=0)
    >>> np.bincount(y[idx]).tolist()
    [2, 2, 2]
    """
    from sklearn.utils import check_random_state

    rng = check_random_state(random_state)
    y = np.asarray(y)
    pool_idx = np.asarray(pool_idx, dtype=np.intp)
    if balanced and is_label_maps(y):
        raise ValueError(
            "a class-balanced seed set needs one label per sample, but y holds label maps "
            "(segmentation): pass balanced_initial=False (skal run: --unbalanced-initial) to draw the "
            "seed images uniformly."
        )
    if not 1 <= n_initial <= len(pool_idx):
        raise ValueError(
            f"n_initial={n_initial} must be between 1 and the pool size ({len(pool_idx)})."
        )
    if not balanced:
        return np.sort(rng.choice(pool_idx, size=n_initial, replace=False))
    classes = np.unique(y[pool_idx])
    if n_initial < len(classes):
        raise ValueError(
            f"a balanced seed set needs at least one label per class: n_initial={n_initial} "
            f"< {len(classes)} classes. Raise n_initial or pass balanced_initial=False."
        )
    per_class = np.full(len(classes), n_initial // len(classes))
    per_class[rng.choice(len(classes), size=n_initial % len(classes), replace=False)] += 1
    chosen = []
    for cls, k in zip(classes, per_class):
        members = pool_idx[y[pool_idx] == cls]
        if len(members) < k:
            raise ValueError(
                f"class {np.asarray(cls).item()!r} has only {len(members)} pool samples, fewer than the "
                f"{k} a balanced seed set of {n_initial} needs."
            )
        chosen.append(rng.choice(members, size=k, replace=False))
    return np.sort(np.concatenate(chosen))


def _named_strategies(strategies):
    if isinstance(strategies, dict):
        items = list(strategies.items())
    else:
        if isinstance(strategies, (str, tuple)) or callable(strategies):
            strategies = [strategies]
        items = []
        for spec in strategies:
            base = spec[0] if isinstance(spec, tuple) else spec
            items.append((strategy_name(base), spec))
    names = [n for n, _ in items]
    if not items:
        raise ValueError("strategies is empty: pass at least one strategy.")
    if len(set(names)) != len(names):
        raise ValueError(
            f"strategy names must be unique, got {names}; pass a dict "
            "{name: strategy} to tell apart two variants of one strategy."
        )
    return items


def _validate(X, y, name):
    """In-memory data as scikit-learn checks it; out-of-core data (memmap, dask array,
    Dataset) left where it is, checked for NaN/inf block by block."""
    y = np.asarray(y) if is_label_maps(y) else column_or_1d(y, warn=True)
    if is_dataset(X) or is_dask(X) or isinstance(X, np.memmap):
        check_finite(X, name=name)
    else:
        X = check_array(X, accept_sparse="csr", allow_nd=True, dtype=None, input_name=name)
    n = num_rows(X, name=name)
    if n != len(y):
        raise ValueError(f"{name} has {n} rows but its labels have {len(y)}.")
    return X, y


class _Default:
    """A keyword's default, told apart from the same value passed on purpose (shown as the value)."""

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return repr(self.value)


#: run_experiment's keywords of the campaign settings, defaulting to CampaignSettings' defaults.
_SETTING = {field.name: _Default(field.default) for field in dataclasses.fields(CampaignSettings)}


def _campaign_settings(settings, keywords):
    """The settings object: ``settings`` as given, or built once from the keywords."""
    given = sorted(k for k, v in keywords.items() if not isinstance(v, _Default))
    if settings is None:
        return CampaignSettings(**{k: v.value if isinstance(v, _Default) else v for k, v in keywords.items()})
    if not isinstance(settings, CampaignSettings):
        raise TypeError(f"settings must be a CampaignSettings, got {type(settings).__name__}.")
    if given:
        raise TypeError(
            f"pass the campaign settings either as settings=CampaignSettings(...) or as keywords, "
            f"not both: {', '.join(given)} given with settings. Put them in the CampaignSettings."
        )
    return settings


def run_experiment(
    estimator,
    X,
    y,
    *,
    strategies,
    learner=None,
    X_test=None,
    y_test=None,
    test_size=_SETTING["test_size"],
    n_initial=_SETTING["n_initial"],
    balanced_initial=_SETTING["balanced_initial"],
    batch_size=_SETTING["batch_size"],
    budget=_SETTING["budget"],
    seeds=(0,),
    warm_start=_SETTING["warm_start"],
    pool_subset=_SETTING["pool_subset"],
    settings=None,
    output_dir=None,
    resume=True,
    n_jobs=None,
    client=None,
    progress=True,
):
    """Simulate labeling campaigns: every strategy, every seed.

    For each seed the data are split into a test set (unless ``X_test`` is
    given), a seed set of ``n_initial`` labels and a pool; every strategy
    starts from the same split, so their curves differ only by what they
    query. Each (strategy, seed) run drives a learner (see
    :func:`simulate_campaign`) and is written round by round to
    ``output_dir/runs/<strategy>__seed<seed>.jsonl``; when interrupted, it
    resumes from its last finished round.

    Parameters
    ----------
    estimator : estimator or callable
        A scikit-learn classifier (cloned for every run, its
        ``random_state`` parameters set from the seed), or a factory
        returning a fresh one.
    X, y : array-like
        Pool data (and test data unless ``X_test`` is given). ``X`` may be
        2-d or an image array ``(n, channels, h, w)``; ``y`` labels, or
        label maps ``(n, h, w)`` for a segmenter (the records then hold the
        mean IoU, ``miou``, per round; the seed set must be drawn with
        ``balanced_initial=False``).
    strategies : str, callable, list or dict
        Registry names (see :data:`skal.strategies.STRATEGIES`), callables
        with the query-strategy contract, ``(strategy, options)`` tuples, or
        a dict ``{display name: any of those}``.
    learner : callable, default=None
        Builds the learner each run drives:
        ``learner(estimator=..., query_strategy=..., random_state=...)``
        (``random_state`` only when it takes it), e.g. a
        :class:`skal.learners.Committee` factory; :class:`skal.ActiveLearner`
        when None. What else a learner may offer the harness is declared by
        :class:`HarnessLearner`.
    X_test, y_test : array-like, default=None
        Fixed test set; when None a stratified ``test_size`` split of ``X``
        is made per seed.
    test_size : float, default=0.25
    n_initial : int, default=20
        Labels before the first query.
    balanced_initial : bool, default=True
        Class-balanced seed set.
    batch_size : int, default=10
        Labels acquired per round.
    budget : int, default=100
        Total labels (seed set included) at which a run stops.
    seeds : int or sequence of int, default=(0,)
        One run per seed and strategy.
    warm_start : bool, default=False
        Keep training the model between rounds instead of from scratch.
    pool_subset : int, default=None
        Score only a random subset of this many unlabeled points per round.
    settings : CampaignSettings, default=None
        The campaign settings as one object, instead of the keywords
        ``test_size`` to ``pool_subset`` above (passing both is a
        TypeError).
    output_dir : path-like, default=None
        Where the run logs go; None keeps results in memory only. The
        folder is locked while the experiment runs (``output_dir/.lock``
        holds the pid): another run on it raises a ``FolderInUseError``
        (a RuntimeError) at once, and the lock of a killed run is taken
        over.
    resume : bool, default=True
        Continue runs found in ``output_dir`` instead of starting over.
    n_jobs : int, default=None
        Runs in parallel through joblib's loky processes (None: one at a
        time).
    client : distributed.Client, default=None
        Run the (strategy, seed) runs on this Dask cluster instead, through
        joblib's dask backend (``n_jobs`` then caps how many run at once;
        None: as many as the cluster takes). Every finished round is sent
        back to this process, which writes the run logs, so that resume
        stays exact wherever the runs ran.
    progress : bool, default=True
        tqdm bars over runs and rounds.

    Returns
    -------
    results : ExperimentResults
        All round records, with learning curves, the summary table and the plot.

    See Also
    --------
    CampaignSettings : the campaign settings, validated.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skal.experiments import run_experiment
    >>> def first(clf, X_pool, n_instances=1, random_state=None):
    ...     return list(range(n_instances)), None
    >>> X, y = load_iris(return_X_y=True)
    >>> res = run_experiment(LogisticRegression(), X, y, strategies=first,
    ...                      n_initial=6, batch_size=5, budget=16, progress=False)
    >>> [r["n_labels"] for r in res.records]
    [6, 11, 16]
    """
    settings = _campaign_settings(settings, {
        "n_initial": n_initial, "balanced_initial": balanced_initial, "batch_size": batch_size,
        "budget": budget, "warm_start": warm_start, "pool_subset": pool_subset, "test_size": test_size,
    })
    X, y, X_test, y_test = _check_data(X, y, X_test, y_test)
    seeds = _check_seeds(seeds)
    named = _named_strategies(strategies)
    data = CampaignData(X, y, X_test, y_test)
    runs = [run for seed in seeds for run in _runs_of_seed(seed, named, data, settings)]
    header = _run_header(settings, data, estimator, learner)
    setup = RunSetup(estimator, learner, settings, resume)
    # One run at a time per output folder: two would interleave their rounds in
    # the same logs. Taken before anything is written there, held to the end.
    lock = nullcontext() if output_dir is None else OutputFolderLock(output_dir)
    with lock:
        logs = {} if output_dir is None else _open_logs(output_dir, header, seeds, named, runs)
        from tqdm.auto import tqdm

        outer = tqdm(total=len(runs), desc="runs", disable=not progress)
        results = []
        try:
            for records in _execute(runs, data, setup, logs, n_jobs=n_jobs, client=client, progress=progress):
                results.append(records)
                outer.update(1)
        finally:
            outer.close()
    order = {run.key: i for i, run in enumerate(runs)}
    results.sort(key=lambda recs: order.get((recs[0]["strategy"], recs[0]["seed"]), 0) if recs else 0)
    return ExperimentResults([r for recs in results for r in recs])


def _check_data(X, y, X_test, y_test):
    """X and y, and a fixed test set if given, validated."""
    X, y = _validate(X, y, "X")
    if (X_test is None) != (y_test is None):
        raise ValueError("pass both X_test and y_test, or neither.")
    if X_test is not None:
        X_test, y_test = _validate(X_test, y_test, "X_test")
        # else the estimator meets X_test only after a first fit, and its error names X
        shape, test_shape = getattr(X, "shape", None), getattr(X_test, "shape", None)
        if shape is not None and test_shape is not None and tuple(shape[1:]) != tuple(test_shape[1:]):
            raise ValueError(
                f"X_test has samples of shape {tuple(test_shape[1:])} (X_test.shape={tuple(test_shape)}) "
                f"but X has {tuple(shape[1:])} (X.shape={tuple(shape)}): pass an X_test with the "
                "same features as X, prepared the same way."
            )
    return X, y, X_test, y_test


def _check_seeds(seeds):
    seeds = [seeds] if isinstance(seeds, numbers.Integral) else list(seeds)
    if not seeds:
        raise ValueError("seeds is empty: pass at least one seed.")
    return [check_scalar(s, "seeds", numbers.Integral) for s in seeds]


def _runs_of_seed(seed, named, data, settings):
    """The runs of one seed, one per strategy, all on the seed's split of the data."""
    y = data.y
    if data.X_test is None:
        pool_idx, test_idx = train_test_split(
            np.arange(len(y)),
            test_size=settings.test_size,
            stratify=None if is_label_maps(y) else y,
            random_state=round_seed(seed, -1, _SPLIT),
        )
        pool_idx, test_idx = np.sort(pool_idx), np.sort(test_idx)
    else:
        pool_idx, test_idx = np.arange(len(y)), None
    if settings.budget > len(pool_idx):
        raise ValueError(
            f"budget={settings.budget} exceeds the pool size ({len(pool_idx)}): lower the budget."
        )
    initial = initial_split(
        y, pool_idx, settings.n_initial, balanced=settings.balanced_initial,
        random_state=round_seed(seed, -1, _SPLIT + 1),
    )
    return [
        RunSpec(name=name, strategy=spec, seed=seed, pool_idx=pool_idx, initial_idx=initial, test_idx=test_idx)
        for name, spec in named
    ]


def _run_header(settings, data, estimator, learner):
    """What a run log's header pins: a resumed run must match all of it."""
    return {
        **settings.as_dict(),
        "test_size": settings.test_size if data.X_test is None else None,
        "n_samples": len(data.y),
        "n_test": None if data.y_test is None else len(data.y_test),
        "estimator": _describe(estimator),
        "learner": None if learner is None else _describe(learner),
        "data": _fingerprint(data.X, data.y, data.X_test, data.y_test),
    }


def _open_logs(output_dir, header, seeds, named, runs):
    """Write the experiment's manifest; the log of every run, by its key."""
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    manifest = {**header, "seeds": seeds, "strategies": [n for n, _ in named]}
    with open(Path(output_dir) / "experiment.json", "w", encoding="utf-8") as fh:
        json.dump(_jsonable(manifest), fh, indent=2)
    logs = {}
    for run in runs:
        strategy, options = run.strategy if isinstance(run.strategy, tuple) else (run.strategy, {})
        logs[run.key] = RunLog(Path(output_dir) / "runs", run.name, run.seed, {
            **header,
            "strategy": strategy if isinstance(strategy, str) else _describe(strategy),
            "strategy_options": repr(sorted(options.items())),
        })
    return logs


def _describe(obj):
    """A description of an estimator or callable that is stable across processes."""
    if hasattr(obj, "get_params"):
        # scikit-learn's repr shows only the parameters changed from defaults,
        # without memory addresses.
        return repr(obj)
    func = obj
    while isinstance(func, functools.partial):
        func = func.func
    return f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', type(func).__name__)}"


def _fingerprint(X, y, X_test, y_test):
    """Shapes and a hash of the labels: enough to tell two data sets apart cheaply."""
    y = np.asarray(y)
    raw = repr(y.tolist()).encode() if y.dtype.kind == "O" else np.ascontiguousarray(y).tobytes()
    digest = hashlib.sha1(raw).hexdigest()[:16]
    shapes = [list(getattr(A, "shape", (num_rows(A),))) for A in (X, X_test) if A is not None]
    return {"shapes": shapes, "labels_sha1": digest}


# -- executing the runs ------------------------------------------------------------------
#
# One task, run_campaign(run, data, setup, log, progress), and three executors
# of it: here one run after the other, on joblib's loky processes, or on a Dask
# cluster through joblib's dask backend. Each yields a run's records as it ends.


def _execute(runs, data, setup, logs, *, n_jobs, client, progress):
    """Every run's records, as each run finishes, from the executor the arguments choose."""
    calls = [(run, data, setup, logs.get(run.key)) for run in runs]
    if client is not None:
        return _on_dask(calls, client=client, n_jobs=n_jobs, resume=setup.resume)
    if n_jobs in (None, 1) or len(calls) == 1:
        return _in_this_process(calls, progress=progress)
    return _on_loky(calls, n_jobs=n_jobs)


def _in_this_process(calls, *, progress):
    for args in calls:
        yield run_campaign(*args, progress=progress)


def _on_loky(calls, *, n_jobs):
    from joblib import Parallel, cpu_count, delayed, effective_n_jobs, parallel_config

    workers = min(effective_n_jobs(n_jobs), len(calls))
    # Each worker gets its share of the cores for torch/BLAS threads;
    # otherwise every worker starts one thread per core and they fight.
    with parallel_config(backend="loky", inner_max_num_threads=max(1, cpu_count() // workers)):
        parallel = Parallel(n_jobs=workers, return_as="generator_unordered")
        # The data go as an argument (not a closure variable), so that joblib
        # memory-maps its large arrays instead of copying them per run.
        yield from parallel(delayed(run_campaign)(*args, progress=False) for args in calls)


class _QueuedLog:
    """A run log seen from a cluster worker: the finished rounds it resumes from
    (read by the process that owns the output folder), and appends sent back there."""

    def __init__(self, queue, key, rounds):
        self.queue, self.key, self.rounds = queue, key, rounds

    def load(self, resume=True):
        return list(self.rounds) if resume else []

    def append(self, record):
        self.queue.put((self.key, record))


def _on_dask(calls, *, client, n_jobs, resume):
    """The runs on a Dask cluster; this process writes every round they send back."""
    import threading

    from distributed import Queue
    from joblib import Parallel, delayed, parallel_config

    queue = Queue(client=client)
    logs = {run.key: log for run, *_, log in calls if log is not None}
    proxies = {key: _QueuedLog(queue.name, key, log.load(resume=resume)) for key, log in logs.items()}

    def drain():
        # rounds are written here as they finish, in the order each run sends
        # them, until the end-of-runs marker this process puts last
        while True:
            item = queue.get()
            if item is None:
                return
            key, record = item
            logs[tuple(key)].append(record)

    writer = threading.Thread(target=drain, daemon=True)
    if logs:
        writer.start()
    try:
        with parallel_config(backend="dask", wait_for_workers_timeout=60):
            parallel = Parallel(n_jobs=n_jobs or -1, return_as="generator_unordered")
            yield from parallel(
                delayed(_run_campaign_on_worker)(run, data, setup, proxies.get(run.key), progress=False)
                for run, data, setup, _ in calls
            )
    finally:
        if logs:
            queue.put(None)
            writer.join()


def _run_campaign_on_worker(run, data, setup, log, progress):
    """:func:`run_campaign` on a worker, its log a queue back to the output folder's process."""
    if log is not None:
        from distributed import Queue

        log = _QueuedLog(Queue(log.queue), log.key, log.rounds)
    return run_campaign(run, data, setup, log, progress)


def load_results(output_dir):
    """Read every run log of an output folder back into :class:`ExperimentResults`.

    Parameters
    ----------
    output_dir : path-like
        A folder written by :func:`run_experiment` (or ``skal run``).

    Returns
    -------
    results : ExperimentResults
    """
    runs = Path(output_dir) / "runs"
    if not runs.is_dir():
        raise FileNotFoundError(f"no run logs in {runs}: is {output_dir} an experiment output folder?")
    records = []
    for path in sorted(runs.glob("*.jsonl")):
        records.extend(read_run_file(path)[1])
    manifest = Path(output_dir) / "experiment.json"
    if manifest.is_file():
        # Keep the strategies in the order the experiment listed them.
        order = json.loads(manifest.read_text(encoding="utf-8")).get("strategies", [])
        rank = {name: i for i, name in enumerate(order)}
        records.sort(key=lambda r: (rank.get(r["strategy"], len(rank)), r["seed"], r["round"]))
    return ExperimentResults(records)
