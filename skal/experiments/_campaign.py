"""One simulated labeling campaign: a model, a strategy, a seed, round after round."""

from __future__ import annotations

import functools
import signal
import threading
import time

import numpy as np
from sklearn.base import clone
from sklearn.metrics import log_loss

from ..learners._query import call_strategy, explicit_params, unpack_result

__all__ = ["resolve_strategy", "round_seed", "simulate_campaign", "strategy_name"]

# Independent random streams of one round, derived from (seed, round, stream).
_MODEL, _STRATEGY, _SUBSET, _SPLIT = 0, 1, 2, 3


def round_seed(seed, round_, stream):
    """A 32-bit seed that depends only on ``(seed, round_, stream)``.

    Deriving every round's randomness this way (rather than drawing from one
    generator that advances through the run) is what lets an interrupted
    run resume at round ``r`` with exactly the random state it would have had.
    """
    return int(np.random.SeedSequence([int(seed), int(round_) + 1, stream]).generate_state(1)[0])


def strategy_name(strategy):
    """Display name of a strategy given as a registry name or a callable."""
    if isinstance(strategy, str):
        return strategy
    func = strategy
    while isinstance(func, functools.partial):
        func = func.func
    return getattr(func, "__name__", type(func).__name__)


def resolve_strategy(strategy):
    """Return ``(callable, options)`` for a registry name, callable or ``(spec, options)``."""
    options = {}
    if isinstance(strategy, tuple):
        if len(strategy) != 2 or not isinstance(strategy[1], dict):
            raise ValueError(
                "a strategy given as a tuple must be (strategy, options_dict); "
                f"got {strategy!r}."
            )
        strategy, options = strategy[0], dict(strategy[1])
    if isinstance(strategy, str):
        from skal.strategies import get_strategy

        strategy = get_strategy(strategy)
    if not callable(strategy):
        raise TypeError(
            f"strategy must be a callable (classifier, X_pool, n_instances, ...) or a "
            f"registered name; got {type(strategy).__name__}."
        )
    return strategy, options


def _set_nested(estimator, name, value):
    """Set every parameter called ``name`` (also inside Pipelines etc.)."""
    params = estimator.get_params(deep=True)
    keys = [k for k in params if k == name or k.endswith(f"__{name}")]
    if keys:
        estimator.set_params(**{k: value for k in keys})
    return bool(keys)


def _make_model(estimator, random_state):
    if hasattr(estimator, "get_params"):
        model = clone(estimator)
        _set_nested(model, "random_state", random_state)
        return model
    # A factory: called afresh each (re)initialisation.
    if "random_state" in explicit_params(estimator)[1]:
        return estimator(random_state=random_state)
    return estimator()


def _full_proba(model, X, classes):
    from skal.models import get_classes
    from skal.models._adapters import align_columns

    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    # A model that has not seen every class yet scores the others 0.
    full = align_columns(proba, get_classes(model), classes, encoded=False)
    return full / np.clip(full.sum(axis=1, keepdims=True), 1e-300, None)


def _evaluate(model, X_test, y_test, classes):
    proba = _full_proba(model, X_test, classes)
    accuracy = float(np.mean(classes[proba.argmax(axis=1)] == y_test))
    nll = float(log_loss(y_test, proba, labels=classes))
    return accuracy, nll


def _call_strategy(strategy, options, model, X_cand, n, random_state, X_labeled, y_labeled):
    # The learners' protocol: one call, the labeled set only to strategies
    # that name it, and a bare pair of indices not misread as (idx, scores).
    result = call_strategy(
        strategy,
        model,
        X_cand,
        (),
        {**options, "n_instances": n, "random_state": random_state},
        {"X_labeled": X_labeled, "y_labeled": y_labeled},
    )
    idx, scores = unpack_result(result)
    idx = np.asarray(idx).ravel()
    if idx.dtype.kind not in "iu":
        raise TypeError(
            f"strategy {strategy_name(strategy)!r} returned indices of dtype {idx.dtype}; "
            "it must return integer positions into X_pool."
        )
    if len(idx) != n or len(np.unique(idx)) != n or idx.min() < 0 or idx.max() >= len(X_cand):
        raise ValueError(
            f"strategy {strategy_name(strategy)!r} returned {idx.tolist()} for "
            f"n_instances={n} on a pool of {len(X_cand)}: it must return "
            "n_instances distinct positions into X_pool."
        )
    if scores is not None:
        scores = np.asarray(scores, dtype=float).ravel()
        if scores.shape != idx.shape:
            scores = None
    return idx.astype(np.intp), scores


def simulate_campaign(
    estimator,
    strategy,
    X,
    y,
    X_test,
    y_test,
    *,
    pool_idx,
    initial_idx,
    batch_size,
    budget,
    seed,
    classes=None,
    warm_start=False,
    pool_subset=None,
    log=None,
    resume=True,
    progress=False,
    name=None,
):
    """Run (or resume) one labeling campaign and return its round records.

    Round 0 fits the model on ``initial_idx``; each later round lets the
    strategy pick ``batch_size`` points among the unlabeled ``pool_idx``
    (or a random ``pool_subset`` of them), "labels" them from ``y``, refits
    and scores the model on the test set, until ``budget`` labels.

    Parameters
    ----------
    estimator : estimator or callable
        A scikit-learn estimator (cloned, with every ``random_state``
        parameter set per round) or a factory returning a fresh one (called
        with ``random_state=`` when it accepts it).
    strategy : callable, str or (strategy, options)
        Query strategy with skal's/modAL's contract, or a registry name.
    X, y : arrays
        All candidate data; ``pool_idx`` and ``initial_idx`` index into them.
    X_test, y_test : arrays
        Held-out data scored after every round.
    pool_idx : ndarray of int
        Positions of ``X`` that form the pool (the seed set included).
    initial_idx : ndarray of int
        Positions labeled before the first query.
    batch_size : int
        Labels acquired per round (the last round may take fewer).
    budget : int
        Total number of labels (seed set included) at which to stop.
    seed : int
        Seed of the run; round ``r`` derives its random state from ``(seed, r)``.
    classes : ndarray, default=None
        All class labels (for the NLL); default: those of ``y`` and ``y_test``.
    warm_start : bool, default=False
        False re-initialises the model each round (clone + fit); True keeps
        it and refits from its last weights (estimators with ``warm_start``).
    pool_subset : int, default=None
        Score only this many unlabeled points per round, drawn at random.
    log : RunLog, default=None
        Where finished rounds are appended, and read back from to resume.
    resume : bool, default=True
        Continue from the rounds already in ``log``.
    progress : bool, default=False
        Show a tqdm bar over rounds.
    name : str, default=None
        Strategy display name stored in the records.

    Returns
    -------
    records : list of dict
        One per round: ``strategy``, ``seed``, ``round``, ``n_labels``,
        ``accuracy`` (of the argmax of ``predict_proba`` on the test set),
        ``nll`` (log loss over all ``classes``), ``queried`` (positions in ``X``; the seed set
        in round 0), ``scores`` (acquisition scores of those), ``train_seconds``,
        ``query_seconds``.
    """
    for pname, value in (("batch_size", batch_size), ("budget", budget)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{pname} must be a positive integer; got {value!r}.")
    strategy_func, options = resolve_strategy(strategy)
    name = name if name is not None else strategy_name(strategy)
    classes = np.unique(np.concatenate([np.asarray(y), np.asarray(y_test)])) if classes is None else np.asarray(classes)
    pool_idx = np.asarray(pool_idx, dtype=np.intp)
    if warm_start and not hasattr(estimator, "get_params"):
        raise ValueError("warm_start=True needs an estimator instance, not a factory.")
    if warm_start and not _has_param(estimator, "warm_start"):
        raise ValueError(
            f"warm_start=True needs an estimator with a warm_start parameter; "
            f"{type(estimator).__name__} has none. Use warm_start=False to "
            "re-initialise the model each round."
        )

    records = log.load(resume=resume) if log is not None else []
    if records:
        labeled = np.concatenate([np.asarray(r["queried"], dtype=np.intp) for r in records])
    else:
        labeled = np.asarray(initial_idx, dtype=np.intp)
    is_labeled = np.zeros(len(X), dtype=bool)
    is_labeled[labeled] = True
    in_pool = np.zeros(len(X), dtype=bool)
    in_pool[pool_idx] = True
    n_rounds = 1 + int(np.ceil(max(budget - len(initial_idx), 0) / batch_size))

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_rounds, initial=len(records), desc=f"{name} seed {seed}", leave=False)

    def fit(model):
        t0 = time.perf_counter()
        _fit_noting_interrupts(model, X[labeled], y[labeled])
        return time.perf_counter() - t0

    model = None
    try:
        unfinished = len(labeled) < budget and bool((in_pool & ~is_labeled).any())
        if records and unfinished:
            # Resuming: rebuild the model of the last finished round from the
            # recorded labeled set (exact when re-initialising each round).
            last = records[-1]["round"]
            model = _make_model(estimator, round_seed(seed, last, _MODEL))
            if warm_start:
                _set_nested(model, "warm_start", True)
            fit(model)
        elif not records:
            model = _make_model(estimator, round_seed(seed, 0, _MODEL))
            if warm_start:
                _set_nested(model, "warm_start", True)
            train_s = fit(model)
            acc, nll = _evaluate(model, X_test, y_test, classes)
            record = _record(name, seed, 0, len(labeled), acc, nll, labeled, None, train_s, 0.0)
            records.append(record)
            if log is not None:
                log.append(record)
            if bar is not None:
                bar.update(1)
        while len(labeled) < budget:
            round_ = records[-1]["round"] + 1
            candidates = np.flatnonzero(in_pool & ~is_labeled)
            if len(candidates) == 0:
                break
            n = min(batch_size, budget - len(labeled), len(candidates))
            if pool_subset is not None and len(candidates) > pool_subset:
                rng = np.random.default_rng(round_seed(seed, round_, _SUBSET))
                candidates = np.sort(rng.choice(candidates, size=pool_subset, replace=False))
            t0 = time.perf_counter()
            picked, scores = _call_strategy(
                strategy_func,
                options,
                model,
                X[candidates],
                n,
                round_seed(seed, round_, _STRATEGY),
                X[labeled],
                y[labeled],
            )
            query_s = time.perf_counter() - t0
            queried = candidates[picked]
            labeled = np.concatenate([labeled, queried])
            is_labeled[queried] = True
            if not warm_start:
                model = _make_model(estimator, round_seed(seed, round_, _MODEL))
            train_s = fit(model)
            acc, nll = _evaluate(model, X_test, y_test, classes)
            record = _record(name, seed, round_, len(labeled), acc, nll, queried, scores, train_s, query_s)
            records.append(record)
            if log is not None:
                log.append(record)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(labels=len(labeled), acc=f"{acc:.3f}")
    finally:
        if bar is not None:
            bar.close()
    return records


def _fit_noting_interrupts(model, X, y):
    """``model.fit(X, y)``, re-raising a Ctrl-C that the model swallowed.

    skorch's ``partial_fit`` catches KeyboardInterrupt and returns a
    half-trained net as if training had finished; recorded as a finished
    round, that would break the promise that an interrupted campaign
    resumes with nothing lost. A SIGINT seen during ``fit`` is therefore
    noted here and raised once ``fit`` returns.
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        # Signals can only be handled in the main thread, and an ignored
        # SIGINT (a background job) must stay ignored.
        return model.fit(X, y)
    seen = []

    def note(signum, frame):
        seen.append(signum)
        previous(signum, frame)

    signal.signal(signal.SIGINT, note)
    try:
        model.fit(X, y)
    finally:
        signal.signal(signal.SIGINT, previous)
    if seen:
        raise KeyboardInterrupt
    return model


def _has_param(estimator, name):
    """Whether ``estimator`` (or a step inside it) has a parameter ``name``."""
    return any(k == name or k.endswith(f"__{name}") for k in estimator.get_params(deep=True))


def _record(name, seed, round_, n_labels, acc, nll, queried, scores, train_s, query_s):
    return {
        "strategy": name,
        "seed": int(seed),
        "round": int(round_),
        "n_labels": int(n_labels),
        "accuracy": acc,
        "nll": nll,
        "queried": [int(i) for i in queried],
        "scores": None if scores is None else [float(s) for s in scores],
        "train_seconds": float(train_s),
        "query_seconds": float(query_s),
    }
