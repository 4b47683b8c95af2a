"""One simulated labeling campaign: a learner, a strategy, a seed, round after round.

The campaign drives a learner through its public API only (``teach``,
``query``, ``predict_proba``): :class:`skal.ActiveLearner` by default, or
any learner a factory builds (a :class:`skal.Committee`, a learner that
pseudo-labels, ...), so every loop skal offers runs here unchanged.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
import time
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.metrics import log_loss

from .._containers import is_dask, is_dataset, take_rows
from .._validation import check_scalar
from ..learners._query import explicit_params
from ..models._label_maps import is_label_maps
from ._segmentation import evaluate_label_maps

__all__ = [
    "CampaignSettings",
    "candidate_rows",
    "make_model",
    "resolve_strategy",
    "round_seed",
    "simulate_campaign",
    "strategy_name",
]

# Independent random streams of a run, derived from (seed, round, stream).
_MODEL, _STRATEGY, _SUBSET, _SPLIT = 0, 1, 2, 3


@dataclasses.dataclass(frozen=True)
class CampaignSettings:
    """How a labeling campaign runs: validated once, written to every run log.

    Parameters
    ----------
    n_initial : int, default=20
        Labels before the first query (the seed set).
    balanced_initial : bool, default=True
        Draw the seed set class-balanced (``n_initial // K`` per class, as
        the MNIST protocol of Gal et al. 2017's 20 balanced labels), or
        uniformly from the pool.
    batch_size : int, default=10
        Labels acquired per round (the last round may take fewer).
    budget : int, default=100
        Total labels, seed set included, at which a run stops.
    warm_start : bool, default=False
        False: the model is trained from scratch every round (its
        ``random_state`` fixed for the run). True: it goes on from its last
        weights (needs an estimator with a ``warm_start`` parameter).
    pool_subset : int or None, default=None
        Score only this many unlabeled points per round, drawn at random.
    test_size : float, default=0.25
        Fraction held out as the test set when no test set is given.

    Examples
    --------
    >>> from skal.experiments import CampaignSettings
    >>> CampaignSettings(batch_size=5, budget=50).n_rounds
    7
    >>> CampaignSettings(budget=10)
    Traceback (most recent call last):
    ...
    ValueError: budget == 10, must be >= 20. The budget counts the seed set: it must be at least n_initial=20.
    """

    n_initial: int = 20
    balanced_initial: bool = True
    batch_size: int = 10
    budget: int = 100
    warm_start: bool = False
    pool_subset: int | None = None
    test_size: float = 0.25

    def __post_init__(self):
        check_scalar(self.n_initial, "n_initial", numbers.Integral, min_val=1)
        check_scalar(self.balanced_initial, "balanced_initial", bool)
        check_scalar(self.batch_size, "batch_size", numbers.Integral, min_val=1)
        check_scalar(
            self.budget, "budget", numbers.Integral, min_val=self.n_initial,
            hint=f"The budget counts the seed set: it must be at least n_initial={self.n_initial}.",
        )
        check_scalar(self.warm_start, "warm_start", bool)
        check_scalar(
            self.pool_subset, "pool_subset", numbers.Integral, min_val=self.batch_size,
            allow_none=True, hint="A round must be able to pick batch_size points from it.",
        )
        check_scalar(
            self.test_size, "test_size", numbers.Real, min_val=0, max_val=1,
            include_boundaries="neither",
        )

    @property
    def n_rounds(self):
        """Rounds of a full run: the seed set, then one per batch up to the budget."""
        return 1 + -(-(self.budget - self.n_initial) // self.batch_size)

    def as_dict(self):
        """The settings as a plain dict (what a run log's header stores)."""
        return dataclasses.asdict(self)


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
    keys = [k for k in estimator.get_params(deep=True) if k == name or k.endswith(f"__{name}")]
    if keys:
        estimator.set_params(**{k: value for k in keys})
    return bool(keys)


def make_model(estimator, random_state, *, warm_start=False):
    """A fresh, unfitted model of a run: a seeded clone, or a factory's product.

    Parameters
    ----------
    estimator : estimator or callable
        A scikit-learn estimator, cloned with every ``random_state``
        parameter (Pipelines included) set to ``random_state``; or a
        factory called with ``random_state=`` when it takes it.
    random_state : int
    warm_start : bool, default=False
        Set every ``warm_start`` parameter to True (an instance is needed).

    Returns
    -------
    model : estimator
    """
    if hasattr(estimator, "get_params"):
        model = clone(estimator)
        _set_nested(model, "random_state", random_state)
        if warm_start and not _set_nested(model, "warm_start", True):
            raise ValueError(
                f"warm_start=True needs an estimator with a warm_start parameter; "
                f"{type(estimator).__name__} has none. Use warm_start=False to "
                "train the model from scratch each round."
            )
        return model
    if warm_start:
        raise ValueError("warm_start=True needs an estimator instance, not a factory.")
    if "random_state" in explicit_params(estimator)[1]:
        return estimator(random_state=random_state)
    return estimator()


def _default_learner(estimator, query_strategy, random_state):
    from skal.learners import ActiveLearner

    return ActiveLearner(estimator, query_strategy, random_state=random_state)


def _make_learner(factory, model, strategy, random_state):
    if "random_state" in explicit_params(factory)[1]:
        return factory(estimator=model, query_strategy=strategy, random_state=random_state)
    return factory(estimator=model, query_strategy=strategy)


def _evaluate(learner, X_test, y_test, classes):
    from skal.models import get_classes
    from skal.models._adapters import align_columns

    proba = np.asarray(learner.predict_proba(X_test), dtype=np.float64)
    # A model that has not seen every class yet scores the others 0.
    proba = align_columns(proba, get_classes(learner), classes, encoded=False)
    proba = proba / np.clip(proba.sum(axis=1, keepdims=True), 1e-300, None)
    accuracy = float(np.mean(classes[proba.argmax(axis=1)] == y_test))
    nll = float(log_loss(y_test, proba, labels=classes))
    return accuracy, nll


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
    seed,
    settings=None,
    learner=None,
    classes=None,
    log=None,
    resume=True,
    progress=False,
    name=None,
):
    """Run (or resume) one labeling campaign and return its round records.

    Every round has the same body: the learner is taught a batch, then
    scored on the test set. Round 0's batch is the seed set
    ``initial_idx``; each later round's is what the strategy queries,
    through ``learner.query``, among the unlabeled rows of ``pool_idx`` (or
    a random ``pool_subset`` of them), until ``settings.budget`` labels.

    Parameters
    ----------
    estimator : estimator or callable
        A scikit-learn estimator (cloned once per run, its ``random_state``
        parameters set from ``seed``) or a factory returning a fresh one
        (called with ``random_state=`` when it takes it).
    strategy : callable, str or (strategy, options)
        Query strategy with skal's/modAL's contract, or a registry name;
        ``options`` are passed to every query.
    X, y : arrays
        All candidate data; ``pool_idx`` and ``initial_idx`` index into them.
    X_test, y_test : arrays
        Held-out data scored after every round.
    pool_idx : ndarray of int
        Positions of ``X`` that form the pool (the seed set included).
    initial_idx : ndarray of int
        Positions labeled before the first query.
    seed : int
        Seed of the run; the model, each round's query and pool subset
        derive their random state from it.
    settings : CampaignSettings, default=None
        Batch size, budget, warm start, pool subset (defaults when None).
    learner : callable, default=None
        ``learner(estimator=..., query_strategy=..., random_state=...)``
        returning a learner with modAL's API (``random_state`` only when the
        factory takes it); :class:`skal.ActiveLearner` when None.
    classes : ndarray, default=None
        All class labels (for the NLL); default: those of ``y`` and ``y_test``.
    log : RunLog, default=None
        Where finished rounds are appended, and read back from to resume.
    resume : bool, default=True
        Continue from the rounds already in ``log``. The learner is rebuilt
        by teaching it the recorded labeled set at once, or, for a learner
        whose training depends on earlier rounds (``history_dependent``) or
        with ``warm_start``, by replaying every recorded round's teach, and
        for one whose training follows the pools its queries saw
        (``replays_queries``: CEAL) by replaying each round's query too.
    progress : bool, default=False
        Show a tqdm bar over rounds.
    name : str, default=None
        Strategy display name stored in the records.

    Returns
    -------
    records : list of dict
        One per round: ``strategy``, ``seed``, ``round``, ``n_labels``,
        ``accuracy`` (of the argmax of ``predict_proba`` on the test set),
        ``nll`` (log loss over all ``classes``), for label maps ``y``
        (segmentation) both per pixel and ``miou`` (the mean IoU,
        :func:`skal.metrics.mean_iou`), ``queried`` (positions in
        ``X``; the seed set in round 0), ``scores`` (acquisition scores of
        those, when the strategy returns them), ``train_seconds``,
        ``query_seconds``; for a learner with ``describe_round`` (CEAL,
        BGADL, SVP) also ``learner``, what it returned given the true
        labels of the round's candidates (CEAL: ``delta``, ``n_pseudo``,
        ``n_pseudo_correct``).
    """
    settings = CampaignSettings() if settings is None else settings
    if not isinstance(settings, CampaignSettings):
        raise TypeError(f"settings must be a CampaignSettings, got {type(settings).__name__}.")
    strategy_func, options = resolve_strategy(strategy)
    name = strategy_name(strategy) if name is None else name
    if classes is None:
        classes = np.unique(np.concatenate([np.asarray(y), np.asarray(y_test)]))
    classes = np.asarray(classes)
    query_seeded = "random_state" in explicit_params(strategy_func)[1]

    model = make_model(estimator, round_seed(seed, 0, _MODEL), warm_start=settings.warm_start)
    active = _make_learner(
        learner or _default_learner, model, strategy_func, round_seed(seed, 0, _STRATEGY)
    )

    records = log.load(resume=resume) if log is not None else []
    batches = [np.asarray(r["queried"], dtype=np.intp) for r in records]
    labeled = np.concatenate(batches) if batches else np.asarray(initial_idx, dtype=np.intp)
    is_unlabeled = np.zeros(len(X), dtype=bool)
    is_unlabeled[np.asarray(pool_idx, dtype=np.intp)] = True
    is_unlabeled[labeled] = False

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=settings.n_rounds, initial=len(records), desc=f"{name} seed {seed}", leave=False)
    try:
        def query(round_, is_unlabeled, n_labeled):
            """The round's candidates and the learner's query over them (seeded by the round)."""
            candidates = np.flatnonzero(is_unlabeled)
            if settings.pool_subset is not None and len(candidates) > settings.pool_subset:
                rng = np.random.default_rng(round_seed(seed, round_, _SUBSET))
                candidates = np.sort(rng.choice(candidates, size=settings.pool_subset, replace=False))
            n = min(settings.batch_size, settings.budget - n_labeled, len(candidates))
            query_kwargs = {**options, "n_instances": n}
            if query_seeded:
                query_kwargs["random_state"] = round_seed(seed, round_, _STRATEGY)
            with warnings.catch_warnings():
                # a strategy that returns bare indices simply records no scores
                warnings.filterwarnings("ignore", message="the query strategy returned bare indices")
                picked, _, scores = active.query(
                    candidate_rows(X, candidates), return_metrics=True, **query_kwargs
                )
            return candidates[picked], scores, candidates

        if records and len(labeled) < settings.budget and is_unlabeled.any():
            if getattr(active, "replays_queries", False):
                _replay_with_queries(active, X, y, batches, pool_idx, query)
            else:
                _rebuild(active, X, y, batches, replay=settings.warm_start or getattr(active, "history_dependent", False))
        round_ = len(records)
        while round_ == 0 or (len(labeled) < settings.budget and is_unlabeled.any()):
            if round_ == 0:
                batch, scores, query_s = np.asarray(initial_idx, dtype=np.intp), None, 0.0
                candidates = None
            else:
                t0 = time.perf_counter()
                batch, scores, candidates = query(round_, is_unlabeled, len(labeled))
                query_s = time.perf_counter() - t0
                labeled = np.concatenate([labeled, batch])
                is_unlabeled[batch] = False
            t0 = time.perf_counter()
            active.teach(take_rows(X, batch), y[batch])
            train_s = time.perf_counter() - t0
            # label maps (segmentation): pixel accuracy and NLL, and the mean IoU
            if is_label_maps(y_test):
                accuracy, nll, miou = evaluate_label_maps(active, X_test, y_test, classes)
            else:
                (accuracy, nll), miou = _evaluate(active, X_test, y_test, classes), None
            record = _record(name, seed, round_, len(labeled), accuracy, nll, batch, scores, train_s, query_s)
            if miou is not None:
                record["miou"] = miou
            if hasattr(active, "describe_round"):
                # what the learner did besides the batch (CEAL's pseudo-labels, scored
                # against the true labels of the pool its query saw; BGADL's twins; ...)
                y_pool = None if candidates is None else np.asarray(y)[candidates]
                record["learner"] = active.describe_round(y_pool=y_pool)
            records.append(record)
            if log is not None:
                log.append(record)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(labels=len(labeled), acc=f"{accuracy:.3f}")
            round_ += 1
    finally:
        if bar is not None:
            bar.close()
    return records


def _replay_with_queries(learner, X, y, batches, pool_idx, query):
    """Re-run every recorded round, query then teach, for a learner whose state follows its queries.

    A learner with ``replays_queries`` (CEAL: its pseudo-labels come from
    the pool its last query saw) is shown each recorded round's candidates
    again, under the round's seed, before it is taught the recorded batch:
    the state it reaches is the one the interrupted run had. A query that
    picks other rows than recorded means the run cannot be reproduced.
    """
    is_unlabeled = np.zeros(len(X), dtype=bool)
    is_unlabeled[np.asarray(pool_idx, dtype=np.intp)] = True
    n_labeled = 0
    for round_, batch in enumerate(batches):
        if round_ > 0:
            picked, _, _ = query(round_, is_unlabeled, n_labeled)
            if not np.array_equal(np.sort(picked), np.sort(batch)):
                raise RuntimeError(
                    f"resuming round {round_}: the replayed query picked other rows than the run "
                    "log records, so this run cannot be resumed exactly; start it afresh "
                    "(resume=False, or skal run --no-resume)."
                )
        learner.teach(take_rows(X, batch), y[batch])
        is_unlabeled[batch] = False
        n_labeled += len(batch)


def _rebuild(learner, X, y, batches, *, replay):
    """Bring a fresh learner to where the recorded rounds left it.

    A learner whose training depends only on its labeled set (and its
    model's fixed seed) is taught all recorded rows in one call: the same
    rows in the same order, hence the same fit as the last recorded round.
    Others are taught the recorded batches one by one, as in the run.
    """
    if replay:
        for batch in batches:
            learner.teach(take_rows(X, batch), y[batch])
    else:
        labeled = np.concatenate(batches)
        learner.teach(take_rows(X, labeled), y[labeled])


#: Bytes of one chunk of a memory-mapped pool read through dask.
_POOL_CHUNK_BYTES = 64 * 2**20


def candidate_rows(X, positions):
    """The candidate rows a round queries from, read lazily when ``X`` is out of core.

    In-memory arrays are indexed (a copy of the candidates); a dask array
    becomes a lazy dask selection, and so does a memory-mapped array when
    dask is installed (without it, a memmap is the NumPy array it is, and is
    indexed); a Dataset becomes a ``torch.utils.data.Subset``. The strategy
    then reads the candidates chunk by chunk instead of the harness loading
    them all.
    """
    if is_dataset(X):
        from torch.utils.data import Subset

        return Subset(X, positions.tolist())
    if isinstance(X, np.memmap) and _have_dask():
        import dask.array as da

        row_bytes = max(1, X[:1].nbytes)
        X = da.from_array(X, chunks=(max(1, _POOL_CHUNK_BYTES // row_bytes),) + X.shape[1:])
    if is_dask(X):
        return X[positions]
    return take_rows(X, positions)


def _have_dask():
    # dask is an optional extra; joblib hands every worker of a parallel run
    # its large arrays as memmaps, whether or not dask is there.
    try:
        import dask.array  # noqa: F401
    except ImportError:
        return False
    return True


def _record(name, seed, round_, n_labels, acc, nll, queried, scores, train_s, query_s):
    if scores is not None:
        scores = np.asarray(scores, dtype=float).ravel()
        if scores.shape != np.shape(queried):
            scores = None
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
