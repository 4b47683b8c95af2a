"""One simulated labeling campaign: a learner, a strategy, a seed, round after round.

The campaign drives a learner through its public API only (``teach``,
``query``, ``predict_proba``): :class:`skal.ActiveLearner` by default, or
any learner a factory builds (a :class:`skal.Committee`, a learner that
pseudo-labels, ...), so every loop skal offers runs here unchanged.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import numbers
import sys
import time
import warnings
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.metrics import log_loss

from .._containers import is_dask, is_dataset, take_rows
from .._validation import check_scalar
from ..learners._query import explicit_params
from ..models._label_maps import is_label_maps
from ._protocol import learner_capabilities
from ._segmentation import evaluate_label_maps

__all__ = [
    "CampaignData",
    "CampaignSettings",
    "RunSetup",
    "RunSpec",
    "candidate_rows",
    "make_model",
    "resolve_strategy",
    "round_seed",
    "run_campaign",
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


@dataclasses.dataclass(frozen=True, eq=False)
class CampaignData:
    """The data of a labeling campaign: where it queries and how it is scored.

    Parameters
    ----------
    X, y : arrays
        All candidate data; a run's positions (:class:`RunSpec`) index into
        them. ``X`` may be out of core (memmap, dask array, Dataset); ``y``
        labels, or label maps ``(n, h, w)``.
    X_test, y_test : arrays, default=None
        A fixed test set, scored after every round; None when each run holds
        out its own rows of ``X`` (:attr:`RunSpec.test_idx`).
    classes : array-like, default=None
        All class labels (for the NLL); default: those of ``y`` and ``y_test``.
    """

    X: Any
    y: Any
    X_test: Any = None
    y_test: Any = None
    classes: Any = None

    def __post_init__(self):
        classes = self.classes
        if classes is None:
            labels = [np.asarray(self.y)] + ([] if self.y_test is None else [np.asarray(self.y_test)])
            classes = np.unique(np.concatenate(labels))
        object.__setattr__(self, "classes", np.asarray(classes))

    def test_set(self, test_idx=None):
        """``(X_test, y_test)`` of a run: the fixed test set, or the rows ``test_idx`` of ``X``."""
        if test_idx is None:
            return self.X_test, self.y_test
        return take_rows(self.X, test_idx), self.y[test_idx]

    def __sizeof__(self):
        # What dask's sizeof reads: joblib's dask backend then scatters the
        # data to the cluster once instead of shipping it with every run.
        try:
            from dask.sizeof import sizeof
        except ImportError:
            sizeof = sys.getsizeof
        parts = (self.X, self.y, self.X_test, self.y_test, self.classes)
        return object.__sizeof__(self) + sum(sizeof(part) for part in parts if part is not None)


@dataclasses.dataclass(frozen=True, eq=False)
class RunSpec:
    """Who a run is: its strategy, its seed and its splits of the data.

    Parameters
    ----------
    name : str
        Display name of the strategy, stored in every record.
    strategy : callable, str or (strategy, options)
        What :func:`resolve_strategy` takes.
    seed : int
        Seed of the run; every random choice derives from it (:func:`round_seed`).
    pool_idx : ndarray of int
        Positions of ``X`` that form the pool (the seed set included).
    initial_idx : ndarray of int
        Positions labeled before the first query.
    test_idx : ndarray of int, default=None
        Positions of ``X`` held out as the run's test set; None: the data's
        fixed test set.
    """

    name: str
    strategy: Any
    seed: int
    pool_idx: Any
    initial_idx: Any
    test_idx: Any = None

    @property
    def key(self):
        """``(name, seed)``: what tells the runs of an experiment apart."""
        return self.name, self.seed


@dataclasses.dataclass(frozen=True, eq=False)
class RunSetup:
    """What every run of an experiment shares besides its data.

    Parameters
    ----------
    estimator : estimator or callable
        What :func:`make_model` takes.
    learner : callable, default=None
        Learner factory (see :func:`simulate_campaign`); :class:`skal.ActiveLearner` when None.
    settings : CampaignSettings, default=CampaignSettings()
    resume : bool, default=True
        Continue from the rounds a run's log holds.
    """

    estimator: Any
    learner: Any = None
    settings: CampaignSettings = dataclasses.field(default_factory=CampaignSettings)
    resume: bool = True

    def build_learner(self, strategy, seed):
        """A run's fresh learner: a seeded model, driven by ``strategy``."""
        model = make_model(self.estimator, round_seed(seed, 0, _MODEL), warm_start=self.settings.warm_start)
        factory = self.learner or _default_learner
        random_state = round_seed(seed, 0, _STRATEGY)
        if "random_state" in explicit_params(factory)[1]:
            return factory(estimator=model, query_strategy=strategy, random_state=random_state)
        return factory(estimator=model, query_strategy=strategy)


def _default_learner(estimator, query_strategy, random_state):
    from skal.learners import ActiveLearner

    return ActiveLearner(estimator, query_strategy, random_state=random_state)


def _check_settings(settings):
    settings = CampaignSettings() if settings is None else settings
    if not isinstance(settings, CampaignSettings):
        raise TypeError(f"settings must be a CampaignSettings, got {type(settings).__name__}.")
    return settings


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
        factory takes it); :class:`skal.ActiveLearner` when None. What else
        a learner may offer the harness is declared by
        :class:`~skal.experiments.HarnessLearner`.
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
    setup = RunSetup(estimator, learner, _check_settings(settings), resume)
    run = RunSpec(
        name=strategy_name(strategy) if name is None else name,
        strategy=strategy, seed=seed, pool_idx=pool_idx, initial_idx=initial_idx,
    )
    return run_campaign(run, CampaignData(X, y, X_test, y_test, classes), setup, log=log, progress=progress)


def run_campaign(run, data, setup, log=None, progress=False):
    """Run (or resume) one campaign: :func:`simulate_campaign`'s body, and the
    task every executor of :func:`~skal.experiments.run_experiment` runs.

    Parameters
    ----------
    run : RunSpec
    data : CampaignData
    setup : RunSetup
    log : RunLog, default=None
        A run log, or any object with its ``load(resume)`` and ``append(record)``.
    progress : bool, default=False

    Returns
    -------
    records : list of dict
        As :func:`simulate_campaign` returns them.
    """
    campaign = _Campaign(run, data, setup)
    records = log.load(resume=setup.resume) if log is not None else []
    campaign.start_from(records)
    X_test, y_test = data.test_set(run.test_idx)
    with _round_bar(progress, setup.settings.n_rounds, len(records), f"{run.name} seed {run.seed}") as bar:
        if records and campaign.goes_on():
            campaign.restore()
        round_ = len(records)
        while round_ == 0 or campaign.goes_on():
            record = campaign.play_round(round_, X_test, y_test)
            records.append(record)
            if log is not None:
                log.append(record)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(labels=record["n_labels"], acc=f"{record['accuracy']:.3f}")
            round_ += 1
    return records


@contextlib.contextmanager
def _round_bar(show, total, done, desc):
    """A tqdm bar over a run's rounds, or None."""
    if not show:
        yield None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=done, desc=desc, leave=False)
    try:
        yield bar
    finally:
        bar.close()


class _Campaign:
    """One run between its rounds: the learner, the labeled set, and the round's steps."""

    def __init__(self, run, data, setup):
        self.run, self.data, self.settings = run, data, setup.settings
        strategy, self.options = resolve_strategy(run.strategy)
        self.query_seeded = "random_state" in explicit_params(strategy)[1]
        self.learner = setup.build_learner(strategy, run.seed)
        self.capabilities = learner_capabilities(self.learner)

    def start_from(self, records):
        """The labeled set and the unlabeled pool after the recorded rounds."""
        self.batches = [np.asarray(r["queried"], dtype=np.intp) for r in records]
        self.labeled = (
            np.concatenate(self.batches) if self.batches else np.asarray(self.run.initial_idx, dtype=np.intp)
        )
        self.is_unlabeled = np.zeros(len(self.data.X), dtype=bool)
        self.is_unlabeled[np.asarray(self.run.pool_idx, dtype=np.intp)] = True
        self.is_unlabeled[self.labeled] = False

    def goes_on(self):
        """Whether another round fits the budget and the pool."""
        return len(self.labeled) < self.settings.budget and self.is_unlabeled.any()

    def restore(self):
        """Bring the fresh learner to where the recorded rounds left it."""
        X, y = self.data.X, self.data.y
        if self.capabilities.replays_queries:
            _replay_with_queries(self.learner, X, y, self.batches, self.run.pool_idx, self.query)
        else:
            replay = self.settings.warm_start or self.capabilities.history_dependent
            _rebuild(self.learner, X, y, self.batches, replay=replay)

    def query(self, round_, is_unlabeled, n_labeled):
        """The round's candidates and the learner's query over them (seeded by the round)."""
        settings, seed = self.settings, self.run.seed
        candidates = np.flatnonzero(is_unlabeled)
        if settings.pool_subset is not None and len(candidates) > settings.pool_subset:
            rng = np.random.default_rng(round_seed(seed, round_, _SUBSET))
            candidates = np.sort(rng.choice(candidates, size=settings.pool_subset, replace=False))
        n = min(settings.batch_size, settings.budget - n_labeled, len(candidates))
        query_kwargs = {**self.options, "n_instances": n}
        if self.query_seeded:
            query_kwargs["random_state"] = round_seed(seed, round_, _STRATEGY)
        with warnings.catch_warnings():
            # a strategy that returns bare indices simply records no scores
            warnings.filterwarnings("ignore", message="the query strategy returned bare indices")
            picked, _, scores = self.learner.query(
                candidate_rows(self.data.X, candidates), return_metrics=True, **query_kwargs
            )
        return candidates[picked], scores, candidates

    def play_round(self, round_, X_test, y_test):
        """Round 0 teaches the seed set, a later round what the learner queries; then score. The record."""
        if round_ == 0:
            batch, scores, candidates = np.asarray(self.run.initial_idx, dtype=np.intp), None, None
            query_s = 0.0
        else:
            t0 = time.perf_counter()
            batch, scores, candidates = self.query(round_, self.is_unlabeled, len(self.labeled))
            query_s = time.perf_counter() - t0
            self.labeled = np.concatenate([self.labeled, batch])
            self.is_unlabeled[batch] = False
        t0 = time.perf_counter()
        self.learner.teach(take_rows(self.data.X, batch), self.data.y[batch])
        train_s = time.perf_counter() - t0
        accuracy, nll, miou = self.score(X_test, y_test)
        record = _record(self.run.name, self.run.seed, round_, len(self.labeled), accuracy, nll, batch, scores,
                         train_s, query_s)
        if miou is not None:
            record["miou"] = miou
        if self.capabilities.describes_rounds:
            # what the learner did besides the batch (CEAL's pseudo-labels, scored
            # against the true labels of the pool its query saw; BGADL's twins; ...)
            y_pool = None if candidates is None else np.asarray(self.data.y)[candidates]
            record["learner"] = self.learner.describe_round(y_pool=y_pool)
        return record

    def score(self, X_test, y_test):
        """Accuracy, NLL and (for label maps: per pixel) the mean IoU, else None."""
        if is_label_maps(y_test):
            return evaluate_label_maps(self.learner, X_test, y_test, self.data.classes)
        return (*_evaluate(self.learner, X_test, y_test, self.data.classes), None)


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
