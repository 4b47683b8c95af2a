"""A persistent, crash-safe labeling session around :class:`skal.ActiveLearner`."""

from __future__ import annotations

import collections
import collections.abc
import csv
import dataclasses
import io
import json
import math
import numbers
import os
import time
import warnings

import numpy as np
from sklearn.base import clone

from .._containers import take_rows
from .._validation import check_scalar
from ..stopping import CRITERIA, StoppingCriterion, criterion_from_spec, default_criteria
from . import _db
from ._persist import TRUSTED_MODULES, build_estimator, dump_fitted, estimator_spec, load_fitted
from ._pool import candidate_rows, compare_fingerprints, open_pool, resolve_pool

__all__ = ["Batch", "Disagreement", "LabelingSession", "SessionStatus"]

_MAX_SEED = np.iinfo(np.int32).max
# Random streams of a session, derived from (random_state, round, stream).
_COLD_START, _VALIDATION, _STOP_SET = 11, 12, 13
_RETRAIN = ("every_tell", "manual")
_POLICIES = ("latest", "majority")
_SQL_CHUNK = 500
_OPTIMISTIC_ASKS = 3


def _round_seed(seed, round_, stream):
    """A 32-bit seed that depends only on ``(seed, round_, stream)`` (as the harness's)."""
    return int(np.random.SeedSequence([int(seed), int(round_) + 1, stream]).generate_state(1)[0])


def _query_seed(random_state, round_):
    """The seed :class:`skal.ActiveLearner` with this ``random_state`` draws for its ``round_``-th query.

    The learner draws one ``randint`` per query (for strategies that take
    ``random_state``); computing the ``round_``-th draw from scratch makes
    the seed a function of ``(random_state, round_)`` alone, so a resumed
    session asks exactly what an uninterrupted one (and the learner) would.
    """
    rng = np.random.RandomState(random_state)
    seed = None
    for _ in range(round_):
        seed = int(rng.randint(_MAX_SEED))
    return seed


def _python_label(value, where="labels"):
    if isinstance(value, (bool, np.bool_)) or value is None:
        raise ValueError(f"{where} holds {value!r}: labels must be ints or strings.")
    if isinstance(value, (numbers.Integral, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if math.isfinite(value) and float(value).is_integer():
            return int(value)
        raise ValueError(
            f"{where} holds {value!r}: labels must be ints or strings (a missing answer "
            "cannot be told)."
        )
    if isinstance(value, (str, np.str_)):
        return str(value)
    raise ValueError(f"{where} holds {value!r} of type {type(value).__name__}: labels must be ints or strings.")


def _kind(label):
    return "int" if isinstance(label, int) else "str"


def _label_kinds(labels):
    return {_kind(v) for v in labels}


def _as_list(values, name):
    if isinstance(values, (str, bytes)) or np.ndim(values) == 0:
        raise ValueError(f"{name} must be a sequence (one per item), got {values!r}.")
    if hasattr(values, "tolist") and not isinstance(values, collections.abc.Sequence):
        return list(values.tolist())
    return list(values)


def _chunks(values, size=_SQL_CHUNK):
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _select_in(con, sql, values):
    """Rows of ``sql`` (with one ``{}`` for the IN list) over ``values``, in chunks."""
    rows = []
    for part in _chunks(list(values)):
        rows.extend(con.execute(sql.format(",".join("?" * len(part))), part).fetchall())
    return rows


def _npz(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _unnpz(blob):
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        return {k: archive[k] for k in archive.files}


def _prepare_estimator(estimator, random_state):
    """A clone whose ``random_state`` parameters left as None are set to the session's."""
    if not hasattr(estimator, "fit") or not hasattr(estimator, "get_params"):
        raise TypeError(
            "estimator must be a scikit-learn classifier (or Pipeline) with fit and "
            f"get_params, got {type(estimator).__name__}."
        )
    model = clone(estimator)
    unset = {
        key: random_state
        for key, value in model.get_params(deep=True).items()
        if (key == "random_state" or key.endswith("__random_state")) and value is None
    }
    if unset:
        model.set_params(**unset)
    return model


# -- what the session hands back ----------------------------------------------


class Batch(collections.abc.Sequence):
    """The item ids a query chose, with the model's predictions and the acquisition scores.

    A sequence of ids (``list(batch)``, ``batch[0]``, ``tell(batch,
    labels)``); ``predictions`` and ``scores`` run alongside (None where
    there is no model yet, or the strategy gives no scores).

    Attributes
    ----------
    ids : list
    predictions : list or None
    scores : list of float or None
    round : int
        The session's query round (validation draws count apart).
    model_version : int or None
        The model that scored the batch (None: a cold start, drawn at random).
    kind : {"train", "validation"}
    """

    def __init__(self, ids, predictions, scores, round_, model_version, kind):
        self.ids = list(ids)
        self.predictions = predictions
        self.scores = scores
        self.round = round_
        self.model_version = model_version
        self.kind = kind

    def __getitem__(self, index):
        return self.ids[index]

    def __len__(self):
        return len(self.ids)

    def __repr__(self):
        return (
            f"Batch(ids={self.ids!r}, predictions={self.predictions!r}, scores="
            f"{None if self.scores is None else [None if s is None else round(s, 4) for s in self.scores]!r}, "
            f"round={self.round}, model_version={self.model_version}, kind={self.kind!r})"
        )

    def records(self):
        """One dict per item: ``id``, ``prediction``, ``score``."""
        return [
            {
                "id": i,
                "prediction": None if self.predictions is None else self.predictions[k],
                "score": None if self.scores is None else self.scores[k],
            }
            for k, i in enumerate(self.ids)
        ]


@dataclasses.dataclass(frozen=True)
class Disagreement:
    """An item with conflicting answers: every label given, in order, and the one trained on."""

    id: object
    labels: list
    annotators: list
    chosen: object
    validation: bool


@dataclasses.dataclass(frozen=True)
class SessionStatus:
    """Where a labeling session stands (:meth:`LabelingSession.status`).

    Attributes
    ----------
    n_items : int
        Items in the pool.
    n_labeled : int
        Items with at least one answer, for training (validation excluded).
    counts : dict
        Labeled items per class (the label chosen by the label policy),
        every class listed.
    n_answers : int
        Answers recorded (validation ones included).
    annotators : dict
        Answers per annotator (None for anonymous answers).
    n_pending : int
        Items asked (for training or validation) and not answered yet.
    n_rounds : int
        Training queries asked so far.
    model_version : int or None
        Version of the latest fitted model.
    n_validation : int
        Items drawn for validation; ``n_validation_labeled`` of them answered.
    n_validation_labeled : int
    validation_accuracy : float or None
        The latest model's accuracy on the answered validation items.
    disagreements : list of Disagreement
        Items whose answers conflict.
    stopping : list of skal.stopping.StoppingReport
        Each criterion's value, threshold and verdict over the models so far.
    """

    n_items: int
    n_labeled: int
    counts: dict
    n_answers: int
    annotators: dict
    n_pending: int
    n_rounds: int
    model_version: int | None
    n_validation: int
    n_validation_labeled: int
    validation_accuracy: float | None
    disagreements: list
    stopping: list

    def __str__(self):
        acc = "n/a" if self.validation_accuracy is None else f"{self.validation_accuracy:.3f}"
        lines = [
            f"{self.n_labeled} labeled of {self.n_items} items ({self.n_answers} answers, "
            f"{self.n_pending} pending), {self.n_rounds} rounds, model version {self.model_version}",
            "per class: " + ", ".join(f"{k}: {v}" for k, v in self.counts.items()),
            f"validation: {self.n_validation_labeled}/{self.n_validation} answered, accuracy {acc}",
            f"disagreements: {len(self.disagreements)}",
        ]
        lines += [f"  {report}" for report in self.stopping]
        return "\n".join(lines)


# -- the session --------------------------------------------------------------


class LabelingSession:
    """A labeling campaign that lives in an SQLite file: ask, tell, retrain, resume.

    The session drives a :class:`skal.ActiveLearner` over a pool of
    unlabeled items for human annotators: :meth:`ask` returns the next
    batch (item ids, the model's predictions and the acquisition scores),
    :meth:`tell` records the answers and retrains. Every query, answer and
    model is written to ``database`` before the call returns, so that a
    process killed at any moment loses no acknowledged answer, and
    :meth:`open` resumes exactly: the same next batch as an uninterrupted
    session.

    Parameters
    ----------
    pool : array-like, DataFrame, path, memmap, sparse matrix, list or Dataset
        The items to label: data in memory, or a ``.csv`` / ``.parquet`` /
        ``.npy`` file or an image folder (``<path>/<class>/<image>``),
        which :meth:`open` re-reads from its path. Only the item ids and a
        fingerprint of the pool are stored in the database.
    estimator : estimator
        A scikit-learn classifier or Pipeline (skal's deep estimators
        included). It is cloned; ``random_state`` parameters left as None
        are set to ``random_state``, so that every fit is reproducible.
        Every retrain fits a fresh clone on the whole labeled set.
    strategy : str or callable, default="auto"
        A name of :data:`skal.strategies.STRATEGIES` or a strategy callable
        (a callable must be passed again to :meth:`open`).
    classes : array-like, default=None
        The labels annotators may give (ints or strings). Required unless
        ``open_classes=True``.
    open_classes : bool, default=False
        Accept labels outside ``classes`` (they are added as they come).
    id_column : str, default=None
        For a DataFrame or CSV/Parquet pool, the column of item ids (not a
        feature). Otherwise ids are row positions (ints), or an image
        folder's file paths relative to it.
    database : str or path-like, default="campaign.db"
        The session file; it must not hold a session already (reopen one
        with :meth:`open`).
    random_state : int, default=0
        Seeds every random choice (cold-start batches, validation draws,
        the stop set, the strategy's ``random_state`` per round, the
        estimator's unset ``random_state``).
    retrain : "every_tell", "manual" or int, default="every_tell"
        When to refit: after every :meth:`tell` that adds training labels,
        only on :meth:`fit`, or once ``k`` new training labels arrived.
    label_policy : {"latest", "majority"}, default="latest"
        Which label trains for an item with several answers (majority ties
        go to the latest of the tied labels).
    query_options : dict, default=None
        Extra keyword arguments of every query (JSON-able, stored).
    stopping : "default", list of StoppingCriterion or None, default="default"
        Criteria reported by :meth:`status` (:mod:`skal.stopping`).
    stop_set_size : int, default=1000
        Size of the fixed random sample of the pool the criteria watch.
    timeout : float, default=30.0
        Seconds to wait for another process holding the database's lock.

    Attributes
    ----------
    learner : skal.ActiveLearner
        The learner, fitted on the labeled set of :attr:`model_version`.
    model_version : int or None
        The database version of the model the learner holds.

    See Also
    --------
    skal.ActiveLearner : the loop the session runs; the same estimator,
        strategy and ``random_state`` pick the same items.
    skal.stopping : when to stop.

    Notes
    -----
    A cold start (no model yet: fewer than two classes labeled) draws the
    batch uniformly at random. An item asked and never answered stays
    *pending* (:meth:`pending`) and is not asked again. Validation items
    (:meth:`ask_validation`) are never trained on and never asked for
    training.

    What is trusted in the file: nothing read from it is unpickled. The
    estimator is stored as its class path and parameters in JSON and
    rebuilt only from scikit-learn's and skal's classes (pass
    ``estimator=`` to :meth:`open` for any other); model parameters are
    NumPy archives read with ``allow_pickle=False``.

    Examples
    --------
    >>> import tempfile, os
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skal import LabelingSession
    >>> X, y = load_iris(return_X_y=True)
    >>> path = os.path.join(tempfile.mkdtemp(), "iris.db")
    >>> session = LabelingSession(X, estimator=LogisticRegression(), strategy="margin",
    ...                           classes=[0, 1, 2], database=path)
    >>> batch = session.ask(6)             # a cold start: no model yet
    >>> _ = session.tell(batch, y[list(batch)], annotator="ann")
    >>> session.model_version
    1
    >>> batch = session.ask(3)
    >>> len(batch), batch.model_version
    (3, 1)
    >>> _ = session.tell(batch, y[list(batch)])
    >>> session.close()
    >>> again = LabelingSession.open(path, pool=X)   # an in-memory pool is passed again
    >>> again.status().n_labeled, again.model_version
    (9, 2)
    >>> X_labeled, y_labeled = again.labeled()
    >>> X_labeled.shape
    (9, 4)
    >>> again.close()
    """

    def __init__(
        self,
        pool,
        *,
        estimator,
        strategy="auto",
        classes=None,
        open_classes=False,
        id_column=None,
        database="campaign.db",
        random_state=0,
        retrain="every_tell",
        label_policy="latest",
        query_options=None,
        stopping="default",
        stop_set_size=1000,
        timeout=30.0,
    ):
        from .. import __version__

        random_state = check_scalar(random_state, "random_state", numbers.Integral, min_val=0)
        check_scalar(open_classes, "open_classes", bool)
        retrain = _check_retrain(retrain)
        if label_policy not in _POLICIES:
            raise ValueError(f"label_policy must be one of {_POLICIES}, got {label_policy!r}.")
        stop_set_size = check_scalar(stop_set_size, "stop_set_size", numbers.Integral, min_val=0)
        timeout = check_scalar(timeout, "timeout", numbers.Real, min_val=0)
        classes = _check_classes(classes, open_classes)
        strategy_func, strategy_meta = _resolve_strategy(strategy)
        query_options = _check_query_options(query_options)
        stopping_specs = _stopping_specs(stopping)
        model = _prepare_estimator(estimator, random_state)
        pool = resolve_pool(pool, id_column)
        n = len(pool)
        stop_set = []
        if stop_set_size and stopping_specs:
            rng = np.random.default_rng(_round_seed(random_state, 0, _STOP_SET))
            stop_set = np.sort(rng.choice(n, size=min(stop_set_size, n), replace=False)).tolist()
        meta = {
            "random_state": random_state,
            "strategy": strategy_meta,
            "query_options": query_options,
            "estimator": estimator_spec(model),
            "estimator_class": f"{type(model).__module__}:{type(model).__qualname__}",
            "open_classes": open_classes,
            "retrain": retrain,
            "label_policy": label_policy,
            "pool_source": pool.source,
            "pool_fingerprint": pool.fingerprint,
            "stop_set": stop_set,
            "stopping": stopping_specs,
        }
        path = os.fspath(database)
        con = _db.connect(path, timeout=timeout, create=True)
        try:
            with _db.transaction(con):
                if not _db.is_empty(con):
                    raise FileExistsError(
                        f"{path!r} already holds a labeling session (or other data): reopen it "
                        "with LabelingSession.open(database), or choose another file."
                    )
                _db.create_schema(con, __version__)
                _db.write_meta(con, meta)
                con.executemany(
                    "INSERT INTO items (pos, item_id) VALUES (?, ?)", enumerate(pool.ids)
                )
                now = time.time()
                con.executemany(
                    "INSERT INTO classes (position, label, declared, added_at) VALUES (?, ?, 1, ?)",
                    [(i, c, now) for i, c in enumerate(classes)],
                )
        except BaseException:
            con.close()
            raise
        self._setup(con, path, meta, pool, model, strategy_func, use_cache=False)

    # -- opening ----------------------------------------------------------------

    @classmethod
    def open(
        cls,
        database,
        *,
        pool=None,
        estimator=None,
        strategy=None,
        use_cached_model=False,
        trusted_modules=TRUSTED_MODULES,
        timeout=30.0,
    ):
        """Resume the session stored in ``database``.

        The pool is re-read from its file (or taken from ``pool``) and must
        have the fingerprint stored at creation. The model of the latest
        version is rebuilt by refitting it on the answers it was fitted on
        (deterministic), and a retrain that was due when the previous
        process stopped (killed mid-fit) is done now: the session asks
        exactly what it would have asked had it never stopped.

        Parameters
        ----------
        database : str or path-like
        pool : data or path, default=None
            Required for a pool that was handed over in memory (an array, a
            DataFrame, ...); for a file pool, a replacement (moved file).
        estimator : estimator, default=None
            Required when the stored one cannot be rebuilt (its parameters
            are not plain data, or its class is not from a trusted package);
            otherwise it must have the stored parameters.
        strategy : str or callable, default=None
            Required when the session was created with a callable.
        use_cached_model : bool, default=False
            Load the stored parameters of the latest model instead of
            refitting, where they were stored (NumPy archives: linear
            models, scalers, Pipelines of them; skorch nets' state dicts).
        trusted_modules : tuple of str, default=("sklearn", "skal")
            Packages whose estimator classes may be rebuilt from the file.
        timeout : float, default=30.0

        Returns
        -------
        session : LabelingSession
        """
        from .. import __version__

        path = os.fspath(database)
        con = _db.connect(path, timeout=timeout)
        try:
            with _db.transaction(con, write=False):
                _db.check_schema(con, path, __version__)
                meta = _db.read_meta(con)
            current = open_pool(meta["pool_source"], pool)
            change = compare_fingerprints(meta["pool_fingerprint"], current.fingerprint)
            if change is not None:
                raise ValueError(
                    f"the pool is not the one this session was created on: {change}. Pass the "
                    "original pool (LabelingSession.open(database, pool=...))."
                )
            model = _reopen_estimator(meta, estimator, trusted_modules)
            strategy_func = _reopen_strategy(meta, strategy)
        except BaseException:
            con.close()
            raise
        self = cls.__new__(cls)
        try:
            self._setup(con, path, meta, current, model, strategy_func, use_cache=use_cached_model)
            self._sync_model(self._latest_model()[0])
            if self._retrain_due():
                self._fit(explicit=False)
        except BaseException:
            con.close()
            raise
        return self

    def _setup(self, con, path, meta, pool, model, strategy_func, *, use_cache):
        from ..learners import ActiveLearner

        self._con = con
        self.database = path
        self._meta = meta
        self._pool = pool
        self._template = model
        self._strategy = strategy_func
        self._use_cache = use_cache
        self.random_state = meta["random_state"]
        self._pos = {item_id: pos for pos, item_id in enumerate(pool.ids)}
        self._id_kind = _label_kinds(pool.ids)
        self._stop_set = np.asarray(meta["stop_set"], dtype=np.intp)
        self._criteria_specs = meta["stopping"]
        self.learner = ActiveLearner(
            clone(model), strategy_func, random_state=self.random_state
        )
        self.model_version = None

    def close(self):
        """Close the database connection (every answer is already committed)."""
        con, self._con = getattr(self, "_con", None), None
        if con is not None:
            con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return (
            f"LabelingSession(database={self.database!r}, n_items={len(self._pool)}, "
            f"model_version={self.model_version})"
        )

    @property
    def _db(self):
        if self._con is None:
            raise ValueError("this labeling session is closed; reopen it with LabelingSession.open().")
        return self._con

    @property
    def classes(self):
        """The classes annotators may use (declared, then added ones)."""
        return [row[0] for row in self._db.execute("SELECT label FROM classes ORDER BY position")]

    @property
    def ids(self):
        """The pool's item ids, in pool order."""
        return list(self._pool.ids)

    # -- reading the state ------------------------------------------------------

    def _latest_model(self):
        row = self._db.execute(
            "SELECT version, last_answer_id FROM models ORDER BY version DESC LIMIT 1"
        ).fetchone()
        return (None, 0) if row is None else row

    def _answers_until(self, last_answer_id, *, validation):
        """``[(pos, [labels...], [annotators...])]`` in order of first answer, up to an answer id."""
        clause = "EXISTS" if validation else "NOT EXISTS"
        rows = self._db.execute(
            f"""SELECT a.item_pos, a.label, a.annotator FROM answers a
                WHERE a.id <= ? AND {clause} (
                    SELECT 1 FROM queries q WHERE q.item_pos = a.item_pos AND q.kind = 'validation')
                ORDER BY a.id""",
            (last_answer_id,),
        ).fetchall()
        grouped = {}
        for pos, label, annotator in rows:
            entry = grouped.setdefault(pos, ([], []))
            entry[0].append(label)
            entry[1].append(annotator)
        return [(pos, labels, annotators) for pos, (labels, annotators) in grouped.items()]

    def _choose(self, labels):
        if self._meta["label_policy"] == "latest" or len(labels) == 1:
            return labels[-1]
        counts = collections.Counter(labels)
        top = max(counts.values())
        tied = {label for label, c in counts.items() if c == top}
        return next(label for label in reversed(labels) if label in tied)

    def _labeled_until(self, last_answer_id, *, validation=False):
        entries = self._answers_until(last_answer_id, validation=validation)
        positions = np.asarray([pos for pos, _, _ in entries], dtype=np.intp)
        labels = [self._choose(labels) for _, labels, _ in entries]
        return positions, labels

    def _max_answer_id(self):
        return self._db.execute("SELECT COALESCE(MAX(id), 0) FROM answers").fetchone()[0]

    def _new_training_answers(self, since):
        return self._db.execute(
            """SELECT COUNT(*) FROM answers a WHERE a.id > ? AND NOT EXISTS (
                   SELECT 1 FROM queries q WHERE q.item_pos = a.item_pos AND q.kind = 'validation')""",
            (since,),
        ).fetchone()[0]

    def _retrain_due(self):
        policy = self._meta["retrain"]
        if policy == "manual":
            return False
        with _db.transaction(self._db, write=False):
            _, last = self._latest_model()
            new = self._new_training_answers(last)
            if not new:
                return False
            positions, labels = self._labeled_until(self._max_answer_id())
        if len(set(labels)) < 2:
            return False  # nothing to fit a classifier on yet
        return policy == "every_tell" or new >= policy

    def _xy(self, positions, labels):
        return take_rows(self._pool.data, positions), np.asarray(labels)

    # -- the model --------------------------------------------------------------

    def _fresh_learner_fit(self, X, y):
        """Fit a fresh clone of the estimator on ``(X, y)``; on failure the learner is left as it was."""
        learner = self.learner
        before = learner.estimator, learner.X_training, learner.y_training
        learner.estimator = clone(self._template)
        try:
            learner.fit(X, y)
        except BaseException:
            learner.estimator, learner.X_training, learner.y_training = before
            raise

    def _sync_model(self, version):
        """Make the learner hold the database's model ``version`` (refit, or its cached parameters)."""
        if version == self.model_version:
            return
        if version is None:
            self.learner.estimator = clone(self._template)
            self.learner.X_training = self.learner.y_training = None
            self.model_version = None
            return
        with _db.transaction(self._db, write=False):
            last, fmt, blob = self._db.execute(
                "SELECT last_answer_id, params_format, params FROM models WHERE version = ?",
                (version,),
            ).fetchone()
            positions, labels = self._labeled_until(last)
        X, y = self._xy(positions, labels)
        loaded = False
        if self._use_cache and fmt == "npz" and blob is not None:
            try:
                estimator = load_fitted(clone(self._template), blob)
            except Exception as exc:  # noqa: BLE001 - any failure: refit instead
                warnings.warn(
                    f"the stored parameters of model {version} could not be loaded ({exc}); "
                    "refitting it from the labeled set.", UserWarning, stacklevel=3,
                )
            else:
                self.learner.estimator = estimator
                self.learner.X_training, self.learner.y_training = X, y
                loaded = True
        if not loaded:
            self._fresh_learner_fit(X, y)
        self.model_version = version

    def fit(self):
        """Refit the model on every training answer now (the ``retrain="manual"`` step).

        Returns
        -------
        model_version : int
            The version of the model now held.
        """
        return self._fit(explicit=True)

    def _fit(self, *, explicit):
        with _db.transaction(self._db, write=False):
            last = self._max_answer_id()
            positions, labels = self._labeled_until(last)
            val_positions, val_labels = self._labeled_until(last, validation=True)
            classes = self.classes
        if len(set(labels)) < 2:
            if explicit:
                raise ValueError(
                    f"cannot fit: the training answers hold {len(set(labels))} class(es); a "
                    "classifier needs labels of at least two classes."
                )
            return self.model_version
        X, y = self._xy(positions, labels)
        start = time.perf_counter()
        self._fresh_learner_fit(X, y)
        seconds = time.perf_counter() - start
        self.model_version = -1  # fitted, not yet a database version
        stop_outputs = self._stop_outputs(positions, classes)
        accuracy = self._accuracy(val_positions, val_labels)
        params = dump_fitted(self.learner.estimator)
        with _db.transaction(self._db):
            latest, latest_last = self._latest_model()
            if latest is not None and latest_last >= last:
                # another process recorded a model on these answers (the same one) or newer ones
                self.model_version = latest if latest_last == last else -1
                return latest
            version = 1 if latest is None else latest + 1
            self._db.execute(
                """INSERT INTO models (version, last_answer_id, n_train, fitted_at, fit_seconds,
                       validation_accuracy, n_validation, params_format, params, stop_outputs)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (version, last, len(positions), time.time(), seconds, accuracy, len(val_positions),
                 None if params is None else "npz", params, stop_outputs),
            )
        self.model_version = version
        return version

    def _aligned_proba(self, X, classes):
        from ..models import get_classes
        from ..models._adapters import align_columns

        proba = np.asarray(self.learner.predict_proba(X), dtype=np.float64)
        return align_columns(proba, get_classes(self.learner), np.asarray(classes), encoded=False)

    def _stop_outputs(self, train_positions, classes):
        if not len(self._stop_set):
            return None
        proba = self._aligned_proba(take_rows(self._pool.data, self._stop_set), classes)
        unlabeled = ~np.isin(self._stop_set, train_positions)
        return _npz(proba=proba.astype(np.float32), unlabeled=unlabeled)

    def _accuracy(self, positions, labels):
        if not len(positions):
            return None
        predicted = self.learner.predict(take_rows(self._pool.data, positions))
        return float(np.mean([p == t for p, t in zip(np.asarray(predicted).tolist(), labels)]))

    # -- asking -----------------------------------------------------------------

    def _excluded(self):
        rows = self._db.execute(
            "SELECT item_pos FROM queries UNION SELECT item_pos FROM answers"
        ).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.intp, count=len(rows))

    def _candidates(self):
        mask = np.ones(len(self._pool), dtype=bool)
        mask[self._excluded()] = False
        return np.flatnonzero(mask)

    def _snapshot(self, kind):
        with _db.transaction(self._db, write=False):
            round_ = self._db.execute(
                "SELECT COALESCE(MAX(round), 0) FROM queries WHERE kind = ?", (kind,)
            ).fetchone()[0] + 1
            max_query = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM queries").fetchone()[0]
            version, _ = self._latest_model()
            candidates = self._candidates()
        return round_, max_query, version, candidates

    def _record(self, kind, round_, max_query, version, positions, scores, predictions, seed):
        """Insert the batch if the state it was computed on still holds; False otherwise."""
        now_query = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM queries").fetchone()[0]
        if now_query != max_query or self._latest_model()[0] != version:
            return False
        answered = _select_in(
            self._db, "SELECT 1 FROM answers WHERE item_pos IN ({}) LIMIT 1", positions.tolist()
        )
        if answered:
            return False
        now = time.time()
        self._db.executemany(
            """INSERT INTO queries (kind, round, rank, item_pos, score, prediction,
                   model_version, seed, asked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                (kind, round_, rank, int(pos),
                 None if scores is None or scores[rank] is None else scores[rank],
                 None if predictions is None else predictions[rank],
                 version if kind == "train" else None, seed, now)
                for rank, pos in enumerate(positions)
            ],
        )
        return True

    def _ask(self, kind, n, choose):
        n = check_scalar(n, "n", numbers.Integral, min_val=1)
        for attempt in range(_OPTIMISTIC_ASKS + 1):
            locked = attempt == _OPTIMISTIC_ASKS
            if locked:  # the database kept changing: hold the write lock while choosing
                self._db.execute("BEGIN IMMEDIATE")
            try:
                round_, max_query, version, candidates = (
                    self._locked_snapshot(kind) if locked else self._snapshot(kind)
                )
                if not len(candidates):
                    raise ValueError(
                        "the pool is exhausted: every item has been asked or answered "
                        f"({len(self.pending())} still pending)."
                    )
                positions, scores, predictions, seed, used = choose(
                    round_, candidates, min(n, len(candidates)), version
                )
                if not locked:
                    self._db.execute("BEGIN IMMEDIATE")
                try:
                    ok = self._record(kind, round_, max_query, used, positions, scores, predictions, seed)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT" if ok else "ROLLBACK")
            except BaseException:
                if locked and self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            if ok:
                ids = [self._pool.ids[p] for p in positions]
                return Batch(ids, predictions, scores, round_, used if kind == "train" else None, kind)
        raise RuntimeError("could not record the batch: the database kept changing.")  # pragma: no cover

    def _locked_snapshot(self, kind):
        round_ = self._db.execute(
            "SELECT COALESCE(MAX(round), 0) FROM queries WHERE kind = ?", (kind,)
        ).fetchone()[0] + 1
        max_query = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM queries").fetchone()[0]
        version, _ = self._latest_model()
        return round_, max_query, version, self._candidates()

    def ask(self, n=1):
        """The next ``n`` items to label: ids, the model's predictions, the acquisition scores.

        The batch is recorded (with its round, scores and model version)
        before it is returned, and its items are not asked again. With no
        model yet (fewer than two classes labeled) the batch is drawn at
        random (a cold start). Fewer than ``n`` come back when fewer are
        left.

        Parameters
        ----------
        n : int, default=1

        Returns
        -------
        batch : Batch
            A sequence of item ids with ``predictions``, ``scores``,
            ``round`` and ``model_version`` alongside.
        """
        return self._ask("train", n, self._choose_train)

    def _choose_train(self, round_, candidates, n, version):
        self._sync_model(version)
        if version is None:
            rng = np.random.default_rng(_round_seed(self.random_state, round_, _COLD_START))
            picked = candidates[np.sort(rng.choice(len(candidates), size=n, replace=False))]
            return picked, None, None, None, None
        from ..learners._query import explicit_params

        options = dict(self._meta["query_options"])
        seed = None
        if "random_state" in explicit_params(self.learner.query_strategy)[1] and "random_state" not in options:
            seed = _query_seed(self.random_state, round_)
            options["random_state"] = seed
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="the query strategy returned bare indices")
            idx, X_query, metrics = self.learner.query(
                candidate_rows(self._pool.data, candidates), n_instances=n,
                return_metrics=True, **options,
            )
        picked = candidates[np.asarray(idx, dtype=np.intp)]
        predictions = [_python_label(p, "the model's predictions")
                       for p in np.asarray(self.learner.predict(take_rows(self._pool.data, picked))).tolist()]
        scores = None
        if metrics is not None:
            values = np.asarray(metrics, dtype=np.float64).reshape(-1)
            if len(values) == len(picked):
                scores = [float(v) if np.isfinite(v) else None for v in values]
        return picked, scores, predictions, seed, version

    def ask_validation(self, n):
        """Draw ``n`` items at random for evaluation only: never trained on, never asked for training.

        Their answers (:meth:`tell` them as any other) give
        ``status().validation_accuracy`` and feed the validation-plateau
        criterion. No prediction is shown, so that annotators are not
        anchored by the model.

        Parameters
        ----------
        n : int

        Returns
        -------
        batch : Batch
            ``kind="validation"``; ``predictions`` and ``scores`` are None.
        """
        def choose(round_, candidates, n, version):
            rng = np.random.default_rng(_round_seed(self.random_state, round_, _VALIDATION))
            picked = candidates[rng.choice(len(candidates), size=n, replace=False)]
            return picked, None, None, None, version

        return self._ask("validation", n, choose)

    # -- telling ----------------------------------------------------------------

    def _normalise_ids(self, ids):
        positions, unknown = [], []
        for value in ids:
            try:
                item = _python_label(value, "ids")
            except ValueError:
                unknown.append(value)
                continue
            if isinstance(item, str) and "int" in self._id_kind and "str" not in self._id_kind:
                try:
                    item = int(item)
                except ValueError:
                    pass
            pos = self._pos.get(item)
            if pos is None:
                unknown.append(value)
            else:
                positions.append(pos)
        if unknown:
            raise ValueError(
                f"unknown item ids {unknown[:5]}{' ...' if len(unknown) > 5 else ''}: they are not "
                f"in the pool (ids look like {self._pool.ids[:3]}). Nothing was recorded."
            )
        if len(set(positions)) != len(positions):
            repeated = sorted({self._pool.ids[p] for p in positions if positions.count(p) > 1}, key=str)
            raise ValueError(
                f"ids {repeated[:5]} appear more than once in one tell: give one answer per item "
                "per call (a second answer in another call is kept as a second opinion). "
                "Nothing was recorded."
            )
        return positions

    def tell(self, ids, labels, annotator=None, *, allow_unasked=False):
        """Record answers, then retrain as the ``retrain`` policy says.

        All answers are checked first and written in one transaction: a bad
        input raises and records nothing, and once ``tell`` has written the
        answers (before any refit starts) they survive a crash. An item may
        be answered again later (by another annotator, or to correct it):
        every answer is kept, the label policy picks the one that trains,
        and :meth:`status` lists the disagreements.

        Parameters
        ----------
        ids : sequence
            Item ids (a :class:`Batch` will do).
        labels : sequence
            One label per id, from the session's classes (or a new one with
            ``open_classes``).
        annotator : str, default=None
            Who answered.
        allow_unasked : bool, default=False
            Accept items that were never asked (a seed set chosen by hand).
            An item already answered may always be answered again.

        Returns
        -------
        answer_ids : list of int
            The database ids of the recorded answers.

        Raises
        ------
        ValueError
            Unknown ids, ids never asked (without ``allow_unasked``), a
            repeated id, labels outside the classes (without open classes)
            or of another type, a length mismatch. Nothing is recorded.
        RuntimeError
            The answers were recorded but the refit failed (the cause is
            chained); the next tell or :meth:`fit` retries it.
        """
        ids = _as_list(ids, "ids")
        labels = _as_list(labels, "labels")
        if annotator is not None and not isinstance(annotator, str):
            raise ValueError(f"annotator must be a string or None, got {annotator!r}.")
        return self._tell(ids, labels, [annotator] * len(ids), allow_unasked)

    def _tell(self, ids, labels, annotators, allow_unasked):
        check_scalar(allow_unasked, "allow_unasked", bool)
        if len(ids) != len(labels):
            raise ValueError(
                f"{len(ids)} ids but {len(labels)} labels: give one label per id. Nothing was recorded."
            )
        if not ids:
            raise ValueError("no answers to record: ids is empty.")
        positions = self._normalise_ids(ids)
        labels = [_python_label(v) for v in labels]
        added = []
        with _db.transaction(self._db):
            asked = {row[0] for row in _select_in(
                self._db, "SELECT item_pos FROM queries WHERE item_pos IN ({})", positions
            )}
            if not allow_unasked:
                answered = {row[0] for row in _select_in(
                    self._db, "SELECT DISTINCT item_pos FROM answers WHERE item_pos IN ({})", positions
                )}
                never = [self._pool.ids[p] for p in positions if p not in asked and p not in answered]
                if never:
                    raise ValueError(
                        f"ids {never[:5]}{' ...' if len(never) > 5 else ''} were never asked: answer "
                        "what ask() / ask_validation() returned, or pass allow_unasked=True (a "
                        "seed set chosen by hand). Nothing was recorded."
                    )
            classes = self.classes
            kinds = _label_kinds(classes)
            given = _label_kinds(labels)
            if kinds and given != kinds or len(given) > 1:
                raise ValueError(
                    f"the labels are of type {sorted(given)} but the session's classes "
                    f"{classes[:10]} are of type {sorted(kinds) or sorted(given)}: give labels "
                    "of one type, the classes' own. Nothing was recorded."
                )
            known = set(classes)
            new = [label for label in dict.fromkeys(labels) if label not in known]
            if new and not self._meta["open_classes"]:
                raise ValueError(
                    f"labels {new[:5]} are not among the session's classes {classes[:20]}: "
                    "correct them, or create the session with open_classes=True to accept new "
                    "classes. Nothing was recorded."
                )
            now = time.time()
            for label in new:
                self._db.execute(
                    """INSERT INTO classes (position, label, declared, added_at)
                       VALUES ((SELECT COALESCE(MAX(position), -1) + 1 FROM classes), ?, 0, ?)""",
                    (label, now),
                )
            for pos, label, annotator in zip(positions, labels, annotators):
                cursor = self._db.execute(
                    "INSERT INTO answers (item_pos, label, annotator, answered_at, asked) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (pos, label, annotator, now, int(pos in asked)),
                )
                added.append(cursor.lastrowid)
        # committed: the answers are safe whatever happens next
        try:
            if self._retrain_due():
                self._fit(explicit=False)
        except Exception as exc:
            raise RuntimeError(
                f"the {len(added)} answers were recorded, but refitting the model failed: {exc}"
            ) from exc
        return added

    def tell_file(self, path, annotator=None, *, allow_unasked=False):
        """Record the answers of a CSV file with columns ``id``, ``label`` (and ``annotator``).

        The header must name exactly those columns (``annotator`` is
        optional); every row is checked before any is recorded, as
        :meth:`tell` does. Ids and labels are read as the pool's ids and the
        session's classes (text matching ``str(class)``).

        Parameters
        ----------
        path : str or path-like
        annotator : str, default=None
            For every row, when the file has no ``annotator`` column.
        allow_unasked : bool, default=False

        Returns
        -------
        answer_ids : list of int
        """
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            rows = [row for row in reader if any(cell.strip() for cell in row)]
        if header is None:
            raise ValueError(f"{os.fspath(path)!r} is empty: expected a header id,label[,annotator].")
        header = [h.strip() for h in header]
        missing = [c for c in ("id", "label") if c not in header]
        extra = [c for c in header if c not in ("id", "label", "annotator")]
        if missing or extra or len(set(header)) != len(header):
            problems = []
            if missing:
                problems.append(f"missing columns {missing}")
            if extra:
                problems.append(f"unexpected columns {extra}")
            if len(set(header)) != len(header):
                problems.append("repeated columns")
            raise ValueError(
                f"the answers file {os.fspath(path)!r} has {' and '.join(problems)}: its header "
                f"must be id,label or id,label,annotator (got {header}). Nothing was recorded."
            )
        if "annotator" in header and annotator is not None:
            raise ValueError(
                "the answers file has an annotator column: do not pass annotator= as well."
            )
        col = {name: header.index(name) for name in header}
        for number, row in enumerate(rows, start=2):
            if len(row) != len(header):
                raise ValueError(
                    f"line {number} of {os.fspath(path)!r} has {len(row)} cells for "
                    f"{len(header)} columns. Nothing was recorded."
                )
        ids = [row[col["id"]].strip() for row in rows]
        labels = [self._parse_label(row[col["label"]].strip()) for row in rows]
        annotators = (
            [row[col["annotator"]].strip() or None for row in rows]
            if "annotator" in col else [annotator] * len(rows)
        )
        return self._tell(ids, labels, annotators, allow_unasked)

    def _parse_label(self, text):
        by_text = {str(c): c for c in self.classes}
        if text in by_text:
            return by_text[text]
        kinds = _label_kinds(by_text.values())
        if kinds == {"int"}:
            try:
                return int(text)
            except ValueError:
                return text
        return text

    # -- exporting --------------------------------------------------------------

    def labeled(self, *, validation=False, return_ids=False):
        """What has been labeled: ``(X, y)`` for training (or the validation set).

        Items with several answers appear once, with the label the label
        policy picks, in the order they were first answered (the order the
        model is fitted in).

        Parameters
        ----------
        validation : bool, default=False
            The answered validation items instead (never trained on).
        return_ids : bool, default=False
            Return ``(ids, X, y)``.
        """
        with _db.transaction(self._db, write=False):
            positions, labels = self._labeled_until(self._max_answer_id(), validation=validation)
        X, y = self._xy(positions, labels)
        if return_ids:
            return [self._pool.ids[p] for p in positions], X, y
        return X, y

    def answers(self):
        """Every answer recorded, oldest first, as dicts.

        Keys: ``answer_id``, ``id``, ``label``, ``annotator``,
        ``answered_at`` (Unix time), ``asked`` (False for answers told with
        ``allow_unasked``), ``validation``.
        """
        rows = self._db.execute(
            """SELECT a.id, a.item_pos, a.label, a.annotator, a.answered_at, a.asked,
                      EXISTS (SELECT 1 FROM queries q WHERE q.item_pos = a.item_pos
                              AND q.kind = 'validation')
               FROM answers a ORDER BY a.id"""
        ).fetchall()
        return [
            {"answer_id": aid, "id": self._pool.ids[pos], "label": label, "annotator": who,
             "answered_at": at, "asked": bool(asked), "validation": bool(val)}
            for aid, pos, label, who, at, asked, val in rows
        ]

    def queries(self):
        """Every query recorded, in order, as dicts.

        Keys: ``kind``, ``round``, ``rank``, ``id``, ``score``,
        ``prediction``, ``model_version``, ``seed``, ``asked_at``.
        """
        rows = self._db.execute(
            """SELECT kind, round, rank, item_pos, score, prediction, model_version, seed, asked_at
               FROM queries ORDER BY id"""
        ).fetchall()
        return [
            {"kind": kind, "round": rnd, "rank": rank, "id": self._pool.ids[pos], "score": score,
             "prediction": pred, "model_version": version, "seed": seed, "asked_at": at}
            for kind, rnd, rank, pos, score, pred, version, seed, at in rows
        ]

    def pending(self):
        """Ids asked (for training or validation) and not answered yet, in the order asked."""
        rows = self._db.execute(
            """SELECT q.item_pos FROM queries q
               WHERE NOT EXISTS (SELECT 1 FROM answers a WHERE a.item_pos = q.item_pos)
               ORDER BY q.id"""
        ).fetchall()
        return [self._pool.ids[r[0]] for r in rows]

    # -- status -----------------------------------------------------------------

    def _criteria(self):
        return [criterion_from_spec(spec) for spec in self._criteria_specs]

    def status(self):
        """Counts per class, rounds, model version, validation accuracy, disagreements, stopping.

        Returns
        -------
        status : SessionStatus
        """
        con = self._db
        with _db.transaction(con, write=False):
            last = self._max_answer_id()
            train = self._answers_until(last, validation=False)
            val = self._answers_until(last, validation=True)
            classes = self.classes
            n_answers = con.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
            annotators = dict(con.execute(
                "SELECT annotator, COUNT(*) FROM answers GROUP BY annotator ORDER BY MIN(id)"
            ).fetchall())
            n_rounds = con.execute(
                "SELECT COALESCE(MAX(round), 0) FROM queries WHERE kind = 'train'"
            ).fetchone()[0]
            n_validation = con.execute(
                "SELECT COUNT(*) FROM queries WHERE kind = 'validation'"
            ).fetchone()[0]
            models = con.execute(
                "SELECT version, validation_accuracy, stop_outputs FROM models ORDER BY version"
            ).fetchall()
        n_pending = len(self.pending())
        counts = {c: 0 for c in classes}
        for _, labels, _ in train:
            counts[self._choose(labels)] += 1
        disagreements = [
            Disagreement(self._pool.ids[pos], labels, who, self._choose(labels), is_val)
            for entries, is_val in ((train, False), (val, True))
            for pos, labels, who in entries
            if len(set(labels)) > 1
        ]
        version = models[-1][0] if models else None
        accuracy = None
        if version is not None and val:
            self._sync_model(version)
            accuracy = self._accuracy(
                np.asarray([p for p, _, _ in val], dtype=np.intp),
                [self._choose(labels) for _, labels, _ in val],
            )
        criteria = self._criteria()
        for _, score, outputs in models:
            arrays = None if outputs is None else _unnpz(outputs)
            for criterion in criteria:
                if criterion.needs == "score":
                    if score is not None:
                        criterion.update(score=score)
                elif arrays is not None:
                    proba = arrays["proba"].astype(np.float64)
                    if proba.shape[1] < len(classes):  # classes added since (open classes)
                        proba = np.pad(proba, ((0, 0), (0, len(classes) - proba.shape[1])))
                    criterion.update(proba=proba, classes=np.asarray(classes),
                                     mask=arrays["unlabeled"])
        return SessionStatus(
            n_items=len(self._pool),
            n_labeled=len(train),
            counts=counts,
            n_answers=n_answers,
            annotators=annotators,
            n_pending=n_pending,
            n_rounds=n_rounds,
            model_version=version,
            n_validation=n_validation,
            n_validation_labeled=len(val),
            validation_accuracy=accuracy,
            disagreements=disagreements,
            stopping=[criterion.report() for criterion in criteria],
        )


# -- parameter checks -----------------------------------------------------------


def _check_retrain(retrain):
    if isinstance(retrain, str):
        if retrain not in _RETRAIN:
            raise ValueError(f"retrain must be 'every_tell', 'manual' or an int >= 1, got {retrain!r}.")
        return retrain
    return check_scalar(retrain, "retrain", numbers.Integral, min_val=1,
                        hint="Or 'every_tell' / 'manual'.")


def _check_classes(classes, open_classes):
    if classes is None:
        if not open_classes:
            raise ValueError(
                "declare the classes annotators may use (classes=[...]), or pass "
                "open_classes=True to accept any label."
            )
        return []
    values = [_python_label(c, "classes") for c in _as_list(classes, "classes")]
    if len(set(values)) != len(values):
        raise ValueError(f"classes repeats labels: {values}.")
    if len(_label_kinds(values)) > 1:
        raise ValueError(f"classes mixes ints and strings: {values}; use one type.")
    return values


def _resolve_strategy(strategy):
    from ..learners._query import resolve_strategy
    from ..strategies import STRATEGIES

    func = resolve_strategy(strategy, "auto")
    if isinstance(strategy, str):
        name = strategy.strip().lower().replace("-", "_")
    else:
        name = next((key for key, value in STRATEGIES.items() if value is func), None)
    display = getattr(func, "__qualname__", type(func).__name__)
    return func, {"name": name, "display": f"{getattr(func, '__module__', '?')}:{display}"}


def _check_query_options(options):
    options = {} if options is None else dict(options)
    if "n_instances" in options:
        raise ValueError("query_options cannot set n_instances: it is ask()'s n.")
    try:
        json.dumps(options)
    except TypeError as exc:
        raise ValueError(f"query_options must be JSON-able (they are stored): {exc}.") from None
    return options


def _stopping_specs(stopping):
    if stopping is None:
        return []
    if isinstance(stopping, str):
        if stopping != "default":
            raise ValueError(f"stopping must be 'default', None or a list of criteria, got {stopping!r}.")
        stopping = default_criteria()
    specs = []
    for criterion in _as_list(stopping, "stopping"):
        if not isinstance(criterion, StoppingCriterion) or CRITERIA.get(criterion.name) is not type(criterion):
            raise ValueError(
                f"stopping holds {criterion!r}: use the criteria of skal.stopping "
                f"({', '.join(sorted(CRITERIA))}), which the session can store."
            )
        specs.append({"name": criterion.name, "params": criterion.get_params()})
    return specs


def _reopen_estimator(meta, estimator, trusted_modules):
    stored = meta["estimator"]
    random_state = meta["random_state"]
    if estimator is None:
        if stored is None:
            raise ValueError(
                f"the session's estimator ({meta['estimator_class']}) has parameters that are "
                "not plain data, so it was not stored: pass it again, "
                "LabelingSession.open(database, estimator=...)."
            )
        return build_estimator(stored, trusted_modules=trusted_modules)
    model = _prepare_estimator(estimator, random_state)
    given_class = f"{type(model).__module__}:{type(model).__qualname__}"
    if given_class != meta["estimator_class"]:
        raise ValueError(
            f"estimator is a {given_class} but the session was created with a "
            f"{meta['estimator_class']}: resuming with another model would not reproduce it."
        )
    spec = estimator_spec(model)
    if stored is not None and spec is not None and spec != stored:
        changed = sorted(k for k in set(spec["params"]) | set(stored["params"])
                         if spec["params"].get(k) != stored["params"].get(k))
        raise ValueError(
            f"estimator's parameters {changed} differ from the session's: resuming with "
            "another model would not reproduce it. Pass the original estimator (or none, to "
            "rebuild it from the file)."
        )
    return model


def _reopen_strategy(meta, strategy):
    stored = meta["strategy"]
    if strategy is None:
        if stored["name"] is None:
            raise ValueError(
                f"the session's strategy is a callable ({stored['display']}): pass it again, "
                "LabelingSession.open(database, strategy=...)."
            )
        return _resolve_strategy(stored["name"])[0]
    func, info = _resolve_strategy(strategy)
    if stored["name"] is not None and info["name"] != stored["name"]:
        raise ValueError(
            f"strategy {info['name'] or info['display']!r} is not the session's "
            f"({stored['name']!r}): resuming with another strategy would not reproduce it."
        )
    return func
