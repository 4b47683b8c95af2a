"""``skal label``: a labeling campaign from the command line, one :class:`LabelingSession` file.

Every subcommand opens the session file, does one step and closes it, so
that annotators can stop at any time and several may work at once:

``skal label init POOL``
    Create the session: the pool (a CSV or Parquet table, an ``.npy``
    array or an image folder), its id column, a label column whose filled
    rows are the first labels, columns to leave out, the classes, the
    model (a preset of :data:`skal.experiments.MODELS`), the strategy and
    the database path.
``skal label ask -n 20 [-o batch.csv]``
    The next batch (``--validation``: a random sample to measure the model
    on), printed and written as a CSV of ``id,prediction,score``.
``skal label tell answers.csv``
    Record the answers of a CSV ``id,label[,annotator]``, then retrain.
``skal label status``
    Counts per class, rounds, the validation accuracy, the stopping
    criteria, and a learning-curve plot of the validation accuracy per
    model version.
``skal label export [-o labeled.csv]``
    The labeled rows: ids and labels (and the features of a table pool).
``skal label demo-data digits.csv`` and ``skal label simulate``
    A pool to try it on (scikit-learn's digits with a held-back label
    column) and a simulated annotator that answers a batch from that
    column.

There is no second loop here: each step is a call of
:class:`~skal.session.LabelingSession` (``ask``, ``ask_validation``,
``tell_file``, ``status``, ``labeled``), so a campaign run by hand picks
what the Python API (and :class:`skal.ActiveLearner`) picks.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
import sqlite3
import sys
import threading
from pathlib import Path

from ._session import LabelingSession

__all__ = ["add_label_parser", "run_label", "write_demo_pool"]

#: The session file every subcommand uses unless ``--database`` says otherwise.
DEFAULT_DATABASE = "campaign.db"
#: Model names ``init --model`` takes besides :data:`skal.experiments.MODELS`.
_MODEL_ALIASES = {"forest": "random-forest", "logreg": "logistic"}
_TABLES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
#: Key of the database's meta table holding what the command line needs to reopen the session.
_META_KEY = "cli"
_PRINTED_ROWS = 50


# -- the parser -----------------------------------------------------------------


def add_label_parser(subparsers, key_value):
    """Add ``skal label`` and its subcommands to ``skal``'s subparsers.

    ``key_value`` parses a ``KEY=VALUE`` option as ``skal run`` does (passed
    in by :mod:`skal.cli`, which imports this module, not the other way).
    """
    from skal.experiments._presets import MODELS
    from skal.strategies import STRATEGIES

    label = subparsers.add_parser(
        "label",
        help="label your own data: a persistent active-learning campaign for annotators",
        description="Run a labeling campaign on your own data: init creates the session file, ask gives "
        "the next items to label, tell records the answers and retrains, status reports where the "
        "campaign stands, export writes what was labeled. Every step is saved in the session file "
        f"(--database, default {DEFAULT_DATABASE}); stop at any time and resume with the next command.",
    )
    steps = label.add_subparsers(dest="label_command", required=True, metavar="STEP")

    def step(name, help_, description):
        parser = steps.add_parser(name, help=help_, description=description)
        if name not in ("demo-data", "simulate"):
            parser.add_argument("--database", "-d", default=DEFAULT_DATABASE,
                                help=f"the session file (default {DEFAULT_DATABASE})")
        if name not in ("demo-data", "simulate", "export"):
            parser.add_argument("--quiet", dest="progress", action="store_false",
                                help="no progress bars on fits")
        return parser

    init = step(
        "init", "create a labeling session on a pool",
        "Create the session file for a pool of items to label. A CSV or Parquet table (one row per "
        "item; every column that is not the id, label or a dropped column is a feature), an .npy "
        "array or an image folder (<folder>/<class>/<image>). Rows of --label-column that hold a "
        "label are recorded as the first labels and the first model is fitted on them.",
    )
    init.add_argument("pool", help="the items: a .csv/.parquet/.npy file or an image folder")
    init.add_argument("--id-column", dest="id_column", default=None,
                      help="column of item ids in a table (default: row numbers are the ids)")
    init.add_argument("--label-column", dest="label_column", default=None,
                      help="column of a table whose filled rows are labels already given (the rest empty)")
    init.add_argument("--drop-columns", dest="drop_columns", type=_names, default=[], metavar="NAMES",
                      help="comma-separated columns that are neither features nor ids (say a held-back "
                      "label column)")
    init.add_argument("--classes", type=_names, default=None, metavar="LABELS",
                      help="comma-separated labels annotators may give, e.g. 0,1,2 or cat,dog "
                      "(ints when they all are)")
    init.add_argument("--open-classes", dest="open_classes", action="store_true",
                      help="accept any label (classes are added as they come)")
    init.add_argument("--model", default="logistic", choices=[*MODELS, *_MODEL_ALIASES],
                      help="the estimator, a preset of skal run --model (default logistic: a StandardScaler "
                      "and a LogisticRegression, quick on a CPU; forest = random-forest)")
    init.add_argument("--model-param", dest="model_param", action="append", type=key_value, default=[],
                      metavar="KEY=VALUE", help="estimator parameter, repeatable (e.g. C=0.5)")
    init.add_argument("--device", default="auto", help="torch device of a neural model: auto, cpu, cuda ...")
    init.add_argument("--strategy", default="auto",
                      help="query strategy (default auto), among: " + ", ".join(sorted(STRATEGIES)))
    init.add_argument("--random-state", dest="random_state", type=int, default=0,
                      help="seeds every random choice (default 0)")
    init.add_argument("--annotator", default=None, help="who gave the labels of --label-column")

    ask = step(
        "ask", "the next items to label (a CSV of id,prediction,score)",
        "Choose the next items to label with the strategy, print them with the model's prediction and "
        "the acquisition score, and write them to -o. They are recorded as asked: the next ask gives "
        "other items. Answer them with skal label tell (a CSV of id,label).",
    )
    ask.add_argument("-n", dest="n", type=int, default=10, help="how many items (default 10)")
    ask.add_argument("--output", "-o", default=None, help="CSV file to write the batch to")
    ask.add_argument("--validation", action="store_true",
                     help="a random sample to measure the model on (never trained on, no prediction shown)")
    ask.add_argument("--pending", action="store_true",
                     help="list the items asked earlier and not answered yet instead (nothing new is asked)")

    tell = step(
        "tell", "record the answers of a CSV of id,label[,annotator] and retrain",
        "Record the answers in a CSV file whose header is id,label or id,label,annotator, then refit "
        "the model. Every row is checked first: a bad file records nothing.",
    )
    tell.add_argument("answers", help="CSV file with the columns id,label[,annotator]")
    tell.add_argument("--annotator", default=None, help="who answered (when the file has no annotator column)")
    tell.add_argument("--allow-unasked", dest="allow_unasked", action="store_true",
                      help="accept items that were never asked (labels chosen by hand)")

    status = step(
        "status", "counts, validation accuracy, stopping criteria and the learning curve",
        "Print the labels per class, the rounds, the validation accuracy and the stopping criteria, and "
        "write the learning curve (validation accuracy per model version) as a PNG and a CSV.",
    )
    status.add_argument("--plot", default=None,
                        help="learning-curve PNG (default <database>_learning_curve.png; its numbers go "
                        "to the same name with .csv)")
    status.add_argument("--no-plot", dest="no_plot", action="store_true", help="write no plot")

    export = step(
        "export", "write the labeled items (ids, labels, features of a table) to a CSV",
        "Write the labeled items with the label that trains (one row per item, in the order they "
        "were first answered): id,label and, for a table pool, its feature columns.",
    )
    export.add_argument("--output", "-o", default="labeled.csv", help="CSV file (default labeled.csv)")
    export.add_argument("--validation", action="store_true", help="the validation sample instead")
    export.add_argument("--no-features", dest="features", action="store_false",
                        help="ids and labels only")

    sync = step(
        "sync", "Label Studio in the loop: pull finished annotations, retrain, push the next batch",
        "Tell the session the annotations finished in a Label Studio project (annotator = the Label "
        "Studio user), retrain, and import the next items as tasks with the model's prediction and "
        "the acquisition score (sort by prediction score in Label Studio to see them in skal's "
        "order). The API token is read from LABEL_STUDIO_API_KEY. Needs label-studio-sdk.",
    )
    sync.add_argument("--label-studio", dest="label_studio", required=True, metavar="URL",
                      help="the Label Studio server, e.g. http://localhost:8080")
    sync.add_argument("--project", type=int, required=True, help="the project's id")
    sync.add_argument("-n", dest="n", type=int, default=10,
                      help="open skal tasks the project should hold after the sync (default 10)")
    sync.add_argument("--document-root", dest="document_root", default=None,
                      help="Label Studio's LOCAL_FILES_DOCUMENT_ROOT, for an image-folder pool "
                      "(default: that environment variable)")

    demo = step(
        "demo-data", "write scikit-learn's digits as a CSV pool to try skal label on",
        "Write scikit-learn's digits (no download) as a CSV: an id column, a label column filled for "
        "--labeled rows per class (the first labels), the held-back true_label column (for "
        "skal label simulate; drop it from the features with --drop-columns true_label), and the 64 "
        "pixel columns.",
    )
    demo.add_argument("path", help="CSV file to write")
    demo.add_argument("-n", dest="n", type=int, default=None, help="only the first N digits (default all 1797)")
    demo.add_argument("--labeled", type=int, default=1, help="labels given per class (default 1)")

    simulate = step(
        "simulate", "answer a batch from a held-back label column (a simulated annotator)",
        "Write the answers file of a batch (a CSV with an id column, as skal label ask writes) "
        "with the labels of a held-back column of another CSV: a simulated annotator, to try a "
        "strategy before people label.",
    )
    simulate.add_argument("batch", help="the batch CSV written by skal label ask")
    simulate.add_argument("--truth", required=True, help="CSV holding the held-back labels")
    simulate.add_argument("--column", default="true_label", help="its label column (default true_label)")
    simulate.add_argument("--id-column", dest="id_column", default="id", help="its id column (default id)")
    simulate.add_argument("--annotator", default="simulated", help="annotator name written (default simulated)")
    simulate.add_argument("--output", "-o", default="answers.csv", help="answers CSV (default answers.csv)")
    return label


def _names(text):
    return [v.strip() for v in text.split(",") if v.strip()]


# -- running ----------------------------------------------------------------------


def run_label(args, out=None):
    """Run the ``skal label`` step that ``args`` (parsed by :func:`add_label_parser`) name.

    User errors (a bad file, a wrong option, a locked database, answers
    recorded but a refit that failed) are raised as ValueError, which
    ``skal``'s ``main`` prints in one line.
    """
    out = sys.stdout if out is None else out
    step = args.label_command
    handler = {
        "init": _init, "ask": _ask, "tell": _tell, "status": _status, "export": _export,
        "sync": _sync, "demo-data": _demo_data, "simulate": _simulate,
    }[step]
    try:
        return handler(args, out)
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise ValueError(
                f"the session file {args.database} stayed locked by another process ({exc}): try again."
            ) from exc
        raise
    except ImportError as exc:  # pandas or pyarrow for a table pool
        raise ValueError(str(exc)) from exc


def _print(out, *lines):
    for line in lines:
        print(line, file=out)
    out.flush()


def _table(header, rows, limit=None):
    rows = [["" if v is None else str(v) for v in row] for row in rows]
    shown = rows if limit is None else rows[:limit]
    widths = [max([len(h)] + [len(r[i]) for r in shown]) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in shown]
    if limit is not None and len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more")
    return "\n".join(lines)


def _fmt(value, digits=4):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if math.isfinite(value) else str(value)
    return str(value)


# -- progress bars on fits ----------------------------------------------------------


@contextlib.contextmanager
def _fit_progress(desc):
    """A tqdm bar on stderr while a fit runs (its elapsed time ticking); off when stderr is no terminal."""
    from tqdm.auto import tqdm

    bar = tqdm(total=1, desc=desc, leave=False, file=sys.stderr, disable=None,
               bar_format="{desc}: {elapsed}")
    stop = threading.Event()
    ticker = None
    if not bar.disable:
        def tick():
            while not stop.wait(0.5):
                bar.refresh()

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
    try:
        yield
    finally:
        stop.set()
        if ticker is not None:
            ticker.join()
        bar.update(1)
        bar.close()


class _ProgressSession(LabelingSession):
    """A LabelingSession that shows a progress bar on every fit (at a tell, at open, at a resume)."""

    def _fresh_learner_fit(self, X, y):
        model = getattr(self._template, "steps", [[None, self._template]])[-1][1]
        with _fit_progress(f"fitting {type(model).__name__} on {len(y)} labels"):
            super()._fresh_learner_fit(X, y)


def _session_class(args):
    return _ProgressSession if getattr(args, "progress", True) else LabelingSession


# -- the pool and the stored settings of the command line ---------------------------------


def _pool_kind(path):
    if path.is_dir():
        return "image_folder"
    suffix = path.suffix.lower()
    if suffix in _TABLES:
        return _TABLES[suffix]
    if suffix == ".npy":
        return "npy"
    raise ValueError(
        f"cannot read a pool from {str(path)!r}: pass a .csv, .parquet or .npy file, or an image "
        "folder (<folder>/<class>/<image>)."
    )


def _read_frame(path, kind, label_column=None):
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(
            f"reading a {kind.upper()} pool needs pandas: pip install pandas (and pyarrow for Parquet)"
        ) from None
    if kind == "csv":
        dtype = None if label_column is None else {label_column: str}
        return pd.read_csv(path, dtype=dtype)
    try:
        return pd.read_parquet(path)
    except ImportError as exc:
        raise ImportError(f"reading a Parquet pool needs pyarrow or fastparquet ({exc}): pip install pyarrow") \
            from None


def _table_pool(settings):
    """The DataFrame the session reads (label and dropped columns removed) and the raw label column."""
    path = Path(settings["pool"])
    if not path.is_file():
        raise FileNotFoundError(
            f"the pool {str(path)!r} does not exist (the session was created on it): put it back there."
        )
    frame = _read_frame(path, settings["kind"], settings["label_column"])
    wanted = [c for c in (settings["id_column"], settings["label_column"], *settings["drop_columns"]) if c]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{path} has no column(s) {missing}; its columns are {[str(c) for c in frame.columns][:20]}."
        )
    labels = None if settings["label_column"] is None else frame[settings["label_column"]]
    drop = [c for c in (settings["label_column"], *settings["drop_columns"]) if c]
    return frame.drop(columns=drop), labels


def _read_settings(database):
    """The command line's settings stored in the session file (None for a session made in Python)."""
    from . import _db
    from .. import __version__

    con = _db.connect(database)
    try:
        with _db.transaction(con, write=False):
            _db.check_schema(con, os.fspath(database), __version__)
            return _db.read_meta(con).get(_META_KEY)
    finally:
        con.close()


def _write_settings(session, settings):
    from . import _db

    with _db.transaction(session._db):
        _db.write_meta(session._db, {_META_KEY: settings})


def _make_estimator(settings, classes):
    from skal.experiments._presets import make_estimator

    params = {k: tuple(v) if isinstance(v, list) else v for k, v in settings["model_params"].items()}
    try:
        return make_estimator(settings["model"], images=settings["images"], classes=classes or None,
                              device=settings["device"], params=params)
    except TypeError as exc:  # a parameter the estimator does not take
        raise ValueError(f"model {settings['model']!r}, --model-param: {exc}") from exc


def _open(args):
    """Reopen the session of ``args.database``: the pool re-read, the estimator rebuilt as stored."""
    database = args.database
    if not os.path.exists(database):
        raise FileNotFoundError(
            f"no labeling session at {database!r}: create one with skal label init POOL "
            "(or pass --database)."
        )
    settings = _read_settings(database)
    kwargs = {}
    if settings is not None:
        if settings["in_memory"]:
            kwargs["pool"] = _table_pool(settings)[0]
        if not settings["estimator_stored"]:
            classes = settings["classes"]
            kwargs["estimator"] = _make_estimator(settings, classes)
    return _session_class(args).open(database, use_cached_model=True, **kwargs)


# -- init -------------------------------------------------------------------------------


def _parse_classes(values):
    if values is None:
        return None
    try:
        return [int(v) for v in values]
    except ValueError:
        return list(values)


def _seed_labels(raw, classes, open_classes):
    """``(positions, labels)`` of the filled rows of the label column, checked against the classes."""
    positions, texts = [], []
    for pos, value in enumerate(raw.tolist()):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        text = str(value).strip()
        if text:
            positions.append(pos)
            texts.append(text)
    if classes:
        by_text = {str(c): c for c in classes}
        ints = all(isinstance(c, int) for c in classes)
    else:
        by_text = {}
        ints = all(_as_int(t) is not None for t in texts)
    labels, bad = [], []
    for pos, text in zip(positions, texts):
        label = by_text.get(text)
        if label is None and ints and _as_int(text) is not None:
            label = by_text.get(str(_as_int(text)), _as_int(text) if not classes else None)
        if label is None:
            if open_classes:
                label = _as_int(text) if ints and _as_int(text) is not None else text
            else:
                bad.append((pos, text))
                continue
        labels.append(label)
    if bad:
        shown = ", ".join(f"row {p + 2}: {t!r}" for p, t in bad[:5])
        raise ValueError(
            f"the label column holds {len(bad)} label(s) outside --classes {classes} ({shown}"
            f"{' ...' if len(bad) > 5 else ''}): fix them, or declare those classes (or --open-classes)."
        )
    return positions, labels


def _as_int(text):
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


def _init(args, out):
    database = args.database
    if os.path.exists(database):
        raise ValueError(
            f"{database} already exists: continue its campaign (skal label ask / tell / status "
            f"--database {database}), or pass another --database."
        )
    folder = Path(database).parent
    if not folder.is_dir():
        raise FileNotFoundError(f"the folder {str(folder)!r} of --database does not exist.")
    path = Path(args.pool).expanduser().resolve()
    if not path.exists():
        raise FileNotFoundError(f"the pool {args.pool!r} does not exist.")
    kind = _pool_kind(path)
    table = kind in ("csv", "parquet")
    if not table:
        given = [o for o, v in (("--id-column", args.id_column), ("--label-column", args.label_column),
                                ("--drop-columns", args.drop_columns)) if v]
        if given:
            raise ValueError(f"{', '.join(given)} name columns of a CSV or Parquet pool; {args.pool} has none.")
    classes = _parse_classes(args.classes)
    if not classes and not args.open_classes:
        raise ValueError(
            "declare the labels annotators may give with --classes (e.g. --classes 0,1,2 or "
            "--classes cat,dog), or pass --open-classes to accept any label."
        )
    model = _MODEL_ALIASES.get(args.model, args.model)
    settings = {
        "pool": str(path),
        "kind": kind,
        "id_column": args.id_column,
        "label_column": args.label_column,
        "drop_columns": list(args.drop_columns),
        "in_memory": bool(args.label_column or args.drop_columns),
        "model": model,
        "model_params": dict(args.model_param),
        "device": args.device,
        "classes": classes or [],
    }
    # The session reads a table from its path unless columns must be left out: then it is
    # handed the table without them, and every later step re-reads the file the same way.
    raw_labels = None
    if settings["in_memory"]:
        pool, raw_labels = _table_pool(settings)
    else:
        pool = str(path)
    images = kind == "image_folder"
    if kind == "npy":
        import numpy as np

        images = np.load(path, mmap_mode="r", allow_pickle=False).ndim > 2
    settings["images"] = bool(images)
    estimator = _make_estimator(settings, classes)
    seeds = ([], [])
    if raw_labels is not None:
        seeds = _seed_labels(raw_labels, classes, args.open_classes)
    created = [p for p in (database, f"{database}-wal", f"{database}-shm", f"{database}-journal")
               if not os.path.exists(p)]
    session = None
    try:
        session = _session_class(args)(
            pool, estimator=estimator, strategy=args.strategy, classes=classes, open_classes=args.open_classes,
            id_column=args.id_column, database=database, random_state=args.random_state,
        )
        settings["estimator_stored"] = session._meta["estimator"] is not None
        _write_settings(session, settings)
        n_items = len(session.ids)
        if seeds[0]:
            ids = [session.ids[p] for p in seeds[0]]
            try:
                session.tell(ids, seeds[1], annotator=args.annotator, allow_unasked=True)
            except RuntimeError as exc:
                raise ValueError(f"{exc} (while fitting the first model on the labels of --label-column)") \
                    from exc
        version = session.model_version
        shown_classes = session.classes
    except BaseException:
        if session is not None:
            session.close()
        for p in created:  # all or nothing: no half-made session file stays behind
            with contextlib.suppress(FileNotFoundError):
                os.remove(p)
        raise
    session.close()
    _print(
        out,
        f"skal label: created {database}: {n_items} items from {args.pool}"
        + (f" (ids: column {args.id_column})" if args.id_column else "")
        + f", classes {_classes_text(shown_classes) if shown_classes else 'open'}, model {model}, strategy "
        f"{args.strategy}, random_state {args.random_state}",
    )
    if seeds[0]:
        fitted = (f"model version {version} fitted on them" if version is not None
                  else "no model yet (a classifier needs labels of two classes): the first batches are random")
        _print(out, f"{len(seeds[0])} labels from column {args.label_column}; {fitted}")
    _print(out, f"next: skal label ask -n 20 -o batch.csv{_db_option(args)}  (and once: skal label ask "
                f"--validation -n 50 -o validation.csv, to measure the model)")
    return 0


def _classes_text(classes):
    text = ",".join(map(str, classes))
    return text if len(text) <= 60 else text[:57] + "..."


def _db_option(args):
    return "" if args.database == DEFAULT_DATABASE else f" --database {args.database}"


# -- ask ---------------------------------------------------------------------------------


def _write_csv(path, header, rows):
    path = Path(path)
    if path.parent != Path("."):
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(tmp, path)


def _csv_value(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return value


def _sync(args, out):
    from ._label_studio import sync

    if args.n < 0:
        raise ValueError(f"-n must be at least 0, got {args.n}.")
    with _open(args) as session:
        report = sync(session, args.label_studio, args.project, n=args.n,
                      document_root=args.document_root)
    _print(
        out,
        f"told {len(report.told)} answers, pushed {len(report.pushed)} tasks; "
        f"{report.open_tasks} open skal tasks in project {args.project}; "
        f"model version {_fmt(report.model_version)}",
        *(f"left alone: {why}" for why in report.skipped),
    )


def _ask(args, out):
    if args.n < 1 and not args.pending:
        raise ValueError(f"-n must be at least 1, got {args.n}.")
    if args.pending and args.validation:
        raise ValueError("--pending lists every unanswered item (training and validation): drop --validation.")
    with _open(args) as session:
        if args.pending:
            pending = set(map(_key, session.pending()))
            records = [
                {"id": q["id"], "prediction": q["prediction"], "score": q["score"], "kind": q["kind"]}
                for q in session.queries() if _key(q["id"]) in pending
            ]
            what = f"{len(records)} items asked earlier and not answered yet"
        else:
            before = len(session.pending())
            batch = session.ask_validation(args.n) if args.validation else session.ask(args.n)
            records = [{**r, "kind": batch.kind} for r in batch.records()]
            if args.validation:
                what = f"validation sample {batch.round}: {len(batch)} items drawn at random (no prediction shown)"
            elif batch.model_version is None:
                what = f"round {batch.round}: {len(batch)} items drawn at random (no model yet)"
            else:
                what = f"round {batch.round}: {len(batch)} items chosen by model version {batch.model_version}"
        rows = [[r["id"], _csv_value(r["prediction"]), _csv_value(r["score"])] for r in records]
        if args.output:
            _write_csv(args.output, ["id", "prediction", "score"], rows)
            what += f", written to {args.output}"
        _print(out, what)
        limit = _PRINTED_ROWS if args.output else None  # without a file, every id is printed
        if records and all(r["kind"] == "validation" for r in records):
            _print(out, _table(["id"], [[r["id"]] for r in records], limit=limit))
        elif records:
            _print(out, _table(["id", "prediction", "score"],
                               [[r["id"], r["prediction"], _fmt(r["score"])] for r in records], limit=limit))
        if not args.pending:
            if before:
                _print(out, f"note: {before} items asked earlier are still unanswered "
                            f"(skal label ask --pending lists them)")
            _print(out, "answer with a CSV whose header is id,label (one row per item), then: "
                        f"skal label tell ANSWERS.csv{_db_option(args)}")
    return 0


def _key(item_id):
    return (type(item_id).__name__, item_id)


# -- tell --------------------------------------------------------------------------------


def _tell(args, out):
    if not os.path.isfile(args.answers):
        raise FileNotFoundError(f"the answers file {args.answers!r} does not exist.")
    with _open(args) as session:
        before = session.model_version
        try:
            added = session.tell_file(args.answers, annotator=args.annotator, allow_unasked=args.allow_unasked)
        except RuntimeError as exc:  # recorded, then the refit failed
            raise ValueError(f"{exc}; the next tell retries the fit.") from exc
        status = session.status()
        line = f"recorded {len(added)} answers from {args.answers}"
        if session.model_version != before:
            line += f"; model version {session.model_version} fitted on {status.n_labeled} labels"
        elif session.model_version is None:
            line += "; no model yet (a classifier needs labels of two classes)"
        else:
            line += f"; model version {session.model_version} kept (no new training labels)"
        if status.validation_accuracy is not None:
            line += f"; validation accuracy {status.validation_accuracy:.3f} ({status.n_validation_labeled} items)"
        _print(out, line)
        if status.n_pending:
            _print(out, f"{status.n_pending} asked items are still unanswered")
        if status.disagreements:
            _print(out, f"{len(status.disagreements)} items have conflicting answers (skal label status)")
    return 0


# -- status ------------------------------------------------------------------------------


def model_history(session, *, measure_missing=True):
    """One dict per fitted model version, oldest first.

    Keys: ``version``, ``n_train`` (training labels), ``n_validation`` and
    ``validation_accuracy`` (the validation answers recorded when the model
    was fitted, and its accuracy on them), ``measured`` (``"at fit"``), and
    ``fit_seconds``. A model fitted before any validation answer (say the
    first, on the labels of ``init --label-column``) is measured now on
    every validation answer (``measured="now"``) when ``measure_missing``:
    from its stored parameters, or refitted on its labeled set; the
    session's learner then holds the last version measured (the next
    ``ask`` syncs it back).
    """
    from . import _db

    with _db.transaction(session._db, write=False):
        rows = session._db.execute(
            "SELECT version, n_train, n_validation, validation_accuracy, fit_seconds FROM models ORDER BY version"
        ).fetchall()
        positions, labels = session._labeled_until(session._max_answer_id(), validation=True)
    history = [
        {"version": v, "n_train": n, "n_validation": nv, "validation_accuracy": acc,
         "measured": None if acc is None else "at fit", "fit_seconds": s}
        for v, n, nv, acc, s in rows
    ]
    missing = [h for h in history if h["validation_accuracy"] is None]
    if measure_missing and missing and len(positions):
        for h in missing:
            session._sync_model(h["version"])
            h["validation_accuracy"] = session._accuracy(positions, labels)
            h["n_validation"], h["measured"] = len(positions), "now"
    return history


def _status(args, out):
    with _open(args) as session:
        status = session.status()
        history = model_history(session)
    acc = status.validation_accuracy
    _print(
        out,
        f"{args.database}: {status.n_labeled} labeled of {status.n_items} items, {status.n_answers} answers"
        f" ({status.n_pending} pending), {status.n_rounds} rounds, model version {status.model_version}",
        f"validation: {status.n_validation_labeled} of {status.n_validation} answered, accuracy "
        f"{'n/a' if acc is None else f'{acc:.3f}'}"
        + ("" if status.n_validation else f" (draw a sample: skal label ask --validation -n 50{_db_option(args)})"),
        "",
        _table(["class", "labeled"], [[c, n] for c, n in status.counts.items()]),
    )
    if status.annotators:
        _print(out, "", _table(["annotator", "answers"],
                               [["(none)" if a is None else a, n] for a, n in status.annotators.items()]))
    if status.disagreements:
        _print(out, "", f"{len(status.disagreements)} items with conflicting answers:",
               _table(["id", "labels", "annotators", "trains on"],
                      [[d.id, "/".join(map(str, d.labels)), "/".join("-" if a is None else a for a in d.annotators),
                        d.chosen] for d in status.disagreements], limit=_PRINTED_ROWS))
    if status.stopping:
        _print(out, "", _table(
            ["stopping criterion", "value", "rule", "threshold", "verdict"],
            [[r.name, _fmt(r.value), r.rule, f"{r.threshold:g}", "STOP" if r.should_stop else "continue"]
             for r in status.stopping],
        ))
    if history:
        _print(out, "", _table(
            ["model", "labels", "validation items", "validation accuracy", "measured", "fit seconds"],
            [[h["version"], h["n_train"], h["n_validation"], _fmt(h["validation_accuracy"]), h["measured"],
              f"{h['fit_seconds']:.2f}"] for h in history],
            limit=_PRINTED_ROWS,
        ))
    if args.no_plot:
        return 0
    if not history:
        _print(out, "", "no model yet: no learning curve to draw.")
        return 0
    plot = Path(args.plot) if args.plot else _default_plot(args.database)
    _write_csv(plot.with_suffix(".csv"), ["version", "n_train", "n_validation", "validation_accuracy", "measured"],
               [[h["version"], h["n_train"], h["n_validation"], _csv_value(h["validation_accuracy"]),
                 h["measured"] or ""] for h in history])
    measured = [h for h in history if h["validation_accuracy"] is not None]
    if not measured:
        _print(out, "", f"no model was measured yet (answer a validation sample first); numbers: "
                        f"{plot.with_suffix('.csv')}")
        return 0
    _plot_curve(measured, plot, args.database)
    _print(out, "", f"learning curve: {plot} (numbers: {plot.with_suffix('.csv')})")
    return 0


def _default_plot(database):
    path = Path(database)
    return path.with_name(f"{path.stem}_learning_curve.png")


def _plot_curve(history, path, title):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = [h["n_train"] for h in history]
    y = [h["validation_accuracy"] for h in history]
    ax.plot(x, y, marker="o")
    for h in history:
        ax.annotate(f"v{h['version']}", (h["n_train"], h["validation_accuracy"]), textcoords="offset points",
                    xytext=(0, 6), ha="center", fontsize=7)
    ax.set_xlabel("training labels")
    ax.set_ylabel("validation accuracy")
    ax.set_title(f"{Path(title).name}: validation accuracy per model version")
    ax.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")


# -- export ------------------------------------------------------------------------------


def _export(args, out):
    with _open(args) as session:
        ids, X, y = session.labeled(validation=args.validation, return_ids=True)
    header, columns = ["id", "label"], None
    if args.features and hasattr(X, "columns") and hasattr(X, "to_numpy"):
        columns = [str(c) for c in X.columns]
        clash = {"id", "label"} & set(columns)
        header += [f"feature_{c}" if c in clash else c for c in columns]
    rows = []
    values = X.to_numpy(dtype=object) if columns is not None else None
    for k, (item, label) in enumerate(zip(ids, y.tolist())):
        row = [item, label]
        if values is not None:
            row += [_csv_value(v.item() if hasattr(v, "item") else v) for v in values[k]]
        rows.append(row)
    _write_csv(args.output, header, rows)
    what = "validation" if args.validation else "labeled"
    _print(out, f"wrote {len(rows)} {what} items to {args.output}"
                + ("" if columns is None else f" with their {len(columns)} feature columns"))
    return 0


# -- trying it out: a pool and a simulated annotator -----------------------------------------


def write_demo_pool(path, n=None, labeled_per_class=1):
    """Write scikit-learn's digits as a CSV pool with a held-back label column.

    Columns: ``id`` (``digit-0000``...), ``label`` (filled for the first
    ``labeled_per_class`` digits of each class, the labels a campaign
    starts from; empty otherwise), ``true_label`` (every digit's label,
    held back: what :func:`simulate_answers` answers from) and the 64
    pixels ``px0``... ``px63`` (0 to 16).

    Returns
    -------
    n_rows : int
    """
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    if n is not None:
        if n < 1:
            raise ValueError(f"-n must be at least 1, got {n}.")
        X, y = X[:n], y[:n]
    if labeled_per_class < 0:
        raise ValueError(f"--labeled must be 0 or more, got {labeled_per_class}.")
    seen = {}
    rows = []
    for i, (pixels, label) in enumerate(zip(X.astype(int).tolist(), y.tolist())):
        seen[label] = seen.get(label, 0) + 1
        given = label if seen[label] <= labeled_per_class else ""
        rows.append([f"digit-{i:04d}", given, label, *pixels])
    _write_csv(path, ["id", "label", "true_label", *(f"px{j}" for j in range(X.shape[1]))], rows)
    return len(rows)


def _demo_data(args, out):
    n = write_demo_pool(args.path, n=args.n, labeled_per_class=args.labeled)
    _print(out, f"wrote {n} digits to {args.path}: columns id, label ({args.labeled} per class given), "
                "true_label (held back, for skal label simulate), px0..px63")
    return 0


def _read_csv_rows(path, what):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"the {what} {path!r} does not exist.")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        rows = [row for row in reader if any(cell.strip() for cell in row)]
    if not header:
        raise ValueError(f"the {what} {path!r} is empty.")
    return header, rows


def _column(header, name, path, what):
    if name not in header:
        raise ValueError(f"the {what} {path!r} has no column {name!r}; its columns are {header[:20]}.")
    return header.index(name)


def simulate_answers(batch, truth, output, *, column="true_label", id_column="id", annotator="simulated"):
    """Answer the items of a batch CSV with the labels of a held-back column: a simulated annotator.

    Returns
    -------
    n_answers : int
    """
    header, rows = _read_csv_rows(batch, "batch file")
    at = _column(header, "id", batch, "batch file")
    ids = [row[at].strip() for row in rows]
    t_header, t_rows = _read_csv_rows(truth, "truth file")
    t_id, t_label = _column(t_header, id_column, truth, "truth file"), _column(t_header, column, truth, "truth file")
    known = {row[t_id].strip(): row[t_label].strip() for row in t_rows}
    missing = [i for i in ids if not known.get(i)]
    if missing:
        raise ValueError(
            f"{truth} has no {column!r} label for the id(s) {missing[:5]}{' ...' if len(missing) > 5 else ''}."
        )
    _write_csv(output, ["id", "label", "annotator"], [[i, known[i], annotator] for i in ids])
    return len(ids)


def _simulate(args, out):
    n = simulate_answers(args.batch, args.truth, args.output, column=args.column, id_column=args.id_column,
                         annotator=args.annotator)
    _print(out, f"wrote {n} answers (column {args.column} of {args.truth}) to {args.output}")
    return 0
