"""The ``skal`` command: simulate active-learning campaigns and report them.

``skal run`` with no option compares a few query strategies with a Deep
Probabilistic Ensemble on scikit-learn's digits (no download), prints the
summary table and writes the learning-curve plot and the round records to
``skal-results/``. Every setting can come from options or from a TOML file
(``--config``); options given on the command line override the file.

``skal run --learner ceal|bgadl|svp`` drives another learner than
:class:`~skal.ActiveLearner` (see :func:`skal.experiments.make_learner`);
its strategies are then named ``<learner>+<strategy>``.

``skal report DIR`` prints the table and redraws the plot of a finished (or
interrupted) experiment folder; ``skal report DIR1 DIR2 ... -o OUT`` puts
the runs of several folders in one table and plot (say a learner beside
the plain one).
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from pathlib import Path

__all__ = ["DEFAULTS", "load_config", "main"]

#: Settings of ``skal run`` without options; a config file or options override them.
DEFAULTS = {
    "dataset": "digits",
    "dataset_params": {},
    "data_root": None,
    "model": "dpe",
    "model_params": {},
    "tabular_to_image": False,
    "learner": "active",
    "learner_params": {},
    "strategies": ["random", "bald", "cluster_margin", "auto"],
    "strategy_options": {},
    "n_initial": 20,
    "balanced_initial": True,
    "batch_size": 10,
    "budget": 100,
    "seeds": [0, 1, 2],
    "warm_start": False,
    "pool_subset": None,
    "pool_size": None,
    "test_size": None,
    "device": "auto",
    "threads": 1,
    "n_jobs": 1,
    "scheduler": None,
    "output": "skal-results",
    "resume": True,
    "targets": [0.8, 0.9],
    "progress": True,
    "title": None,
}


# What each setting of a config file must be. TOML has no null: a setting
# whose default is None is simply left out.
_SETTING_TYPES = {
    **dict.fromkeys(("dataset", "data_root", "model", "learner", "device", "scheduler", "output", "title"), str),
    **dict.fromkeys(("n_initial", "batch_size", "budget", "pool_subset", "pool_size", "test_size", "threads",
                     "n_jobs"), int),
    **dict.fromkeys(("balanced_initial", "warm_start", "resume", "progress"), bool),
    **dict.fromkeys(("dataset_params", "model_params", "learner_params", "strategy_options"), dict),
    "tabular_to_image": (bool, dict),
}
# Lists whose single item may stand alone: ``strategies = "random"`` is one
# strategy, not six of one letter each.
_LIST_TYPES = {"strategies": str, "seeds": int, "targets": float}
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", dict: "a table"}


def _is(value, kind):
    if isinstance(kind, tuple):
        return any(_is(value, k) for k in kind)
    if isinstance(value, bool):  # True is an int to Python, not to a config file
        return kind is bool
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)


def _check_types(config, path):
    """Raise a ValueError naming the file and the setting whose value has the wrong type;
    return the config with a lone item of a list setting made a list."""
    config = dict(config)
    for key, value in config.items():
        if key in _LIST_TYPES:
            kind = _LIST_TYPES[key]
            if _is(value, kind):
                config[key] = value = [value]
            if not (isinstance(value, list) and all(_is(v, kind) for v in value)):
                raise ValueError(
                    f"{path}: {key} must be {_TYPE_NAMES[kind]} or a list of them, got {value!r}."
                )
            continue
        kind = _SETTING_TYPES[key]
        if not _is(value, kind):
            expected = " or ".join(_TYPE_NAMES[k] for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise ValueError(f"{path}: {key} must be {expected}, got {value!r}.")
    for name, options in config.get("strategy_options", {}).items():
        if not isinstance(options, dict):
            raise ValueError(
                f"{path}: strategy_options.{name} must be a table of that strategy's options "
                f"([strategy_options.{name}]), got {options!r}."
            )
    return config


def load_config(path):
    """Read a TOML config: the keys of :data:`DEFAULTS`, top level.

    ``model_params`` (estimator parameters), ``learner_params`` (the
    learner's), ``dataset_params`` (of a generated data set, e.g.
    ``canvas_size`` of ``mnist-segmentation``) and ``strategy_options``
    (``{strategy: {option: value}}``) are tables; ``tabular_to_image`` is
    true/false or a table of :class:`~skal.preprocessing.TabularToImage`'s
    parameters. ``strategies``, ``seeds`` and ``targets`` are lists; a
    single value stands for a list of one (``strategies = "random"``).

    Raises
    ------
    FileNotFoundError
        When ``path`` is not a file.
    ValueError
        For a file that is not valid TOML, an unknown setting or a value of
        the wrong type; the message names the file and the setting.
    """
    try:
        import tomllib
    except ModuleNotFoundError:  # Python < 3.11
        import tomli as tomllib

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist (or is not a file).")
    with open(path, "rb") as fh:
        try:
            config = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path} is not valid TOML: {exc}.") from None
    unknown = sorted(set(config) - set(DEFAULTS))
    if unknown:
        raise ValueError(
            f"{path}: unknown setting(s) {', '.join(unknown)}; valid ones: {', '.join(sorted(DEFAULTS))}."
        )
    return _check_types(config, path)


def _csv(value):
    return [v.strip() for v in value.split(",") if v.strip()]


def _ints(value):
    try:
        return [int(v) for v in _csv(value)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {value!r}") from None


def _floats(value):
    try:
        return [float(v) for v in _csv(value)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {value!r}") from None


def _key_value(text):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    if isinstance(value, list):
        value = tuple(value)  # torch module sizes such as hidden_units
    return key.strip(), value


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 1, like every user error of skal."""

    def error(self, message):
        self.exit(1, f"{self.prog}: error: {message} (see {self.prog} --help).\n")


def _parser():
    from skal.datasets import DATASETS
    from skal.experiments._presets import LEARNERS, MODELS
    from skal.strategies import STRATEGIES

    parser = _Parser(
        prog="skal",
        description="scikit-learn-compatible active learning: simulate and compare labeling campaigns.",
    )
    from skal import __version__

    parser.add_argument("--version", action="version", version=f"skal {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    S = argparse.SUPPRESS
    run = sub.add_parser(
        "run",
        help="simulate labeling campaigns and print the summary table",
        description="Simulate labeling campaigns (strategies x seeds), print the summary table, "
        "write learning_curves.png, summary.txt and the per-round records (runs/*.jsonl). "
        "Defaults: " + ", ".join(
            f"{k}={v}" for k, v in DEFAULTS.items() if k not in ("model_params", "learner_params", "strategy_options")
        ),
        argument_default=S,
    )
    run.add_argument("--config", help="TOML file with settings (options given here override it)")
    run.add_argument("--dataset", choices=DATASETS)
    run.add_argument("--dataset-param", dest="dataset_param", action="append", type=_key_value,
                     metavar="KEY=VALUE",
                     help="parameter of a generated dataset, repeatable (e.g. canvas_size=32 for "
                     "mnist-segmentation)")
    run.add_argument("--data-root", dest="data_root",
                     help="folder holding mnist/ or fashion-mnist/ (default: $SKAL_DATA_ROOT or ../shared/data)")
    run.add_argument("--model", choices=MODELS)
    run.add_argument("--model-param", dest="model_param", action="append", type=_key_value, metavar="KEY=VALUE",
                     help="estimator parameter, repeatable (e.g. max_epochs=30, module__hidden_units=[64])")
    run.add_argument("--tabular-to-image", dest="tabular_to_image", action="store_true",
                     help="lay tabular features out as images (skal.preprocessing.TabularToImage) "
                     "for a SmallCNN network")
    run.add_argument("--learner", choices=LEARNERS,
                     help="the learner each run drives: active (skal.ActiveLearner), ceal (pseudo-labels), "
                     "bgadl (generated twins of acquired images), svp (a proxy selects)")
    run.add_argument("--learner-param", dest="learner_param", action="append", type=_key_value,
                     metavar="KEY=VALUE",
                     help="learner parameter, repeatable (e.g. delta=0.1, proxy=logistic, generator__n_steps=200)")
    run.add_argument("--strategies", type=_csv, metavar="NAMES",
                     help="comma-separated strategy names, among: " + ", ".join(sorted(STRATEGIES)))
    run.add_argument("--budget", type=int, help="total labels at which each run stops (seed set included)")
    run.add_argument("--batch-size", dest="batch_size", type=int, help="labels queried per round")
    run.add_argument("--initial", dest="n_initial", type=int, help="size of the seed set")
    run.add_argument("--unbalanced-initial", dest="balanced_initial", action="store_false",
                     help="draw the seed set uniformly instead of class-balanced")
    run.add_argument("--seeds", type=_ints, help="comma-separated seeds, one run per seed and strategy")
    run.add_argument("--warm-start", dest="warm_start", action="store_true",
                     help="keep the model between rounds instead of re-initialising it")
    run.add_argument("--pool-subset", dest="pool_subset", type=int,
                     help="score only this many random unlabeled points per round")
    run.add_argument("--pool-size", dest="pool_size", type=int,
                     help="use a random subset of this many training samples as the pool")
    run.add_argument("--test-size", dest="test_size", type=int,
                     help="evaluate on a random subset of this many test samples")
    run.add_argument("--device", help="torch device: auto, cpu, cuda, cuda:1 ...")
    run.add_argument("--n-jobs", dest="n_jobs", type=int, help="runs in parallel (joblib)")
    run.add_argument("--scheduler",
                     help="run on a Dask cluster: 'local' starts a LocalCluster of --n-jobs worker "
                     "processes, or the address of a running scheduler (tcp://host:8786); this "
                     "process writes the run logs")
    run.add_argument("--threads", type=int,
                     help="torch intra-op threads of this process (default 1: the small nets of active "
                     "learning run fastest single-threaded, and parallel runs must not oversubscribe; "
                     "0 keeps torch's default)")
    run.add_argument("--output", "-o", help="output folder (resumed when it holds runs of the same settings)")
    run.add_argument("--no-resume", dest="resume", action="store_false", help="start over, discarding old runs")
    run.add_argument("--targets", type=_floats, help="accuracies of the labels-to-target columns, e.g. 0.9,0.95")
    run.add_argument("--quiet", dest="progress", action="store_false", help="no progress bars")
    run.add_argument("--title", help="plot title")

    report = sub.add_parser(
        "report",
        help="print the table and redraw the plot of output folders",
        description="Print the summary table and draw the learning curves of a folder written by skal run "
        "(into that folder), or of several folders together (into --output).",
    )
    report.add_argument("folders", nargs="+", metavar="FOLDER", help="folders written by skal run")
    report.add_argument("--output", "-o", default=None,
                        help="where the table and plot of several folders go (required with more than one)")
    report.add_argument("--targets", type=_floats, default=None)
    report.add_argument("--title", default=None, help="plot title")

    from skal.session._cli import add_label_parser

    add_label_parser(sub, _key_value)  # skal label: a labeling campaign on your own data
    return parser


def _settings(args):
    settings = dict(DEFAULTS)
    given = vars(args)
    if "config" in given:
        settings.update(load_config(given["config"]))
    for key, value in given.items():
        if key in ("command", "config", "model_param", "dataset_param", "learner_param"):
            continue
        settings[key] = value
    for option, key in (("model_param", "model_params"), ("dataset_param", "dataset_params"),
                        ("learner_param", "learner_params")):
        if option in given:
            settings[key] = {**settings[key], **dict(given[option])}
    return settings


@contextmanager
def _blame_on_type_error(what, given):
    """Report a TypeError (a parameter the constructor does not take) as a ValueError naming the option.

    Only when ``given`` (the user passed such parameters): otherwise the
    TypeError is not theirs, and passes unchanged.
    """
    try:
        yield
    except TypeError as exc:
        if not given:
            raise
        raise ValueError(f"{what}: {exc}") from exc


def _cpu_cost_notice(estimator):
    """A line saying what training an ensemble of CNNs on the CPU costs, or None.

    ``skal run --dataset mnist`` (and every image data set) picks a DPE of 8
    GalCNN members by default, and every round trains all eight: on a CPU
    that takes minutes per round and seed. Saying so before the first round
    lets the user pick a lighter setting instead of waiting without a word.

    Parameters
    ----------
    estimator : estimator
        What :func:`~skal.experiments.make_estimator` built (a Pipeline's
        last step is the network).

    Returns
    -------
    notice : str or None
        None unless the estimator trains several convolutional networks per
        fit on the CPU.
    """
    from skal.models import MLP, DeepEnsemble, DeepProbabilisticEnsemble
    from skal.models._base import resolve_device

    net = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    # Snapshot ensembles and single networks train one network per fit.
    if not isinstance(net, (DeepEnsemble, DeepProbabilisticEnsemble)):
        return None
    module = net.module
    # an accelerator named outright is not resolved here: without one, the
    # fit itself says so (resolve_device's error)
    named = str(net.device) if net.device not in (None, "auto") else None
    if module is MLP or (named and not named.startswith("cpu")) or resolve_device(net.device) != "cpu":
        return None
    name = getattr(module, "__name__", type(module).__name__)
    if net.max_epochs is None:
        # The estimators' default length (skal.models._base.TRAINING_DEFAULTS):
        # one fit of 8 GalCNNs on 20 MNIST labels took more than 4 CPU-minutes
        # (one torch thread) when this notice was written.
        cost = "at least 1,000 gradient steps each: expect minutes per round and seed"
    else:
        cost = f"{net.max_epochs} epochs each"
    return (
        f"every round trains {net.n_estimators} {name} networks on the CPU, {cost}. Lighter: a GPU "
        "(--device cuda), one network (--model mc-dropout), fewer members (--model-param n_estimators=2) "
        "or shorter fits (--model-param max_epochs=30)."
    )


def _subsample(X, y, n, seed, what):
    import numpy as np
    from sklearn.model_selection import train_test_split

    from skal.models._label_maps import is_label_maps

    if n is None or n >= len(y):
        return X, y
    maps = is_label_maps(y)  # label maps: no class to stratify by
    if not maps and n < len(np.unique(y)):
        raise ValueError(f"{what}={n} is smaller than the number of classes.")
    idx, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=None if maps else y,
                              random_state=seed)
    idx = np.sort(idx)
    return X[idx], y[idx]


def run_from_settings(settings, out=None):
    """Run the experiment that ``settings`` describe and write its outputs.

    Returns the :class:`~skal.experiments.ExperimentResults`.
    """
    out = sys.stdout if out is None else out
    if settings["threads"]:
        import torch

        # A command-line run owns its process, so it may set this; the
        # library itself never touches torch's thread pool.
        torch.set_num_threads(int(settings["threads"]))
    from skal.datasets import load_dataset
    from skal.experiments import CampaignSettings, run_experiment
    from skal.experiments._presets import NEURAL, make_estimator, make_learner
    from skal.experiments._records import OutputFolderLock
    from skal.models._label_maps import is_label_maps

    # A parameter the constructor does not take is a TypeError of Python's;
    # say which option gave it.
    with _blame_on_type_error("--dataset-param (dataset_params)", settings["dataset_params"]):
        data = load_dataset(
            settings["dataset"],
            settings["data_root"],
            flatten=None if settings["model"] in NEURAL else True,
            **settings["dataset_params"],
        )
    X, y = _subsample(data.X_train, data.y_train, settings["pool_size"], 0, "pool_size")
    X_test, y_test = _subsample(data.X_test, data.y_test, settings["test_size"], 1, "test_size")
    images = X.ndim > 2
    with _blame_on_type_error(f"model {settings['model']!r}, --model-param (model_params)",
                              settings["model_params"]):
        estimator = make_estimator(
            settings["model"],
            images=images,
            classes=data.classes,
            device=settings["device"],
            params=settings["model_params"],
            segmentation=is_label_maps(y),
            tabular_to_image=settings["tabular_to_image"],
        )
    with _blame_on_type_error(f"learner {settings['learner']!r}, --learner-param (learner_params)",
                              settings["learner_params"]):
        learner = make_learner(
            settings["learner"],
            images=images,
            classes=data.classes,
            device=settings["device"],
            params=settings["learner_params"],
        )
    campaign = CampaignSettings(
        **{name: settings[name] for name in
           ("n_initial", "balanced_initial", "batch_size", "budget", "warm_start", "pool_subset")}
    )
    # Options of strategies left out (say by --strategies overriding a
    # config file) are simply unused.
    options = settings["strategy_options"] or {}
    prefix = "" if learner is None else f"{settings['learner']}+"
    strategies = {
        prefix + name: (name, dict(options[name])) if name in options else name for name in settings["strategies"]
    }
    output = Path(settings["output"])
    if output.exists() and not output.is_dir():
        raise ValueError(f"output {output} is a file, not a folder: pass another --output (output).")
    # Locked before config.json is written: a second run on a folder in use
    # is refused before it changes anything there (run_experiment re-enters
    # the lock, which is this thread's).
    with OutputFolderLock(output):
        with open(output / "config.json", "w", encoding="utf-8") as fh:
            json.dump(settings, fh, indent=2, default=str)
        print(
            f"skal run: {settings['dataset']} (pool {len(y)}, test {len(y_test)}), model {settings['model']}, "
            f"learner {settings['learner']}, "
            f"strategies {', '.join(settings['strategies'])}, {settings['n_initial']} -> {settings['budget']} labels "
            f"by {settings['batch_size']}, seeds {settings['seeds']}; output {output}/",
            file=out,
            flush=True,
        )
        notice = _cpu_cost_notice(estimator)
        if notice:
            print(f"skal run: note: {notice}", file=sys.stderr, flush=True)
        client = None
        if settings["scheduler"]:
            client = _dask_client(settings["scheduler"], settings["n_jobs"], settings["threads"])
        try:
            results = run_experiment(
                estimator,
                X,
                y,
                X_test=X_test,
                y_test=y_test,
                strategies=strategies,
                learner=learner,
                settings=campaign,
                seeds=settings["seeds"],
                output_dir=output,
                resume=settings["resume"],
                n_jobs=settings["n_jobs"] if client is None else None,
                client=client,
                progress=settings["progress"],
            )
        finally:
            if client is not None:
                cluster = getattr(client, "cluster", None)
                client.close()
                if cluster is not None:
                    cluster.close()
        title = settings["title"] or f"{settings['dataset']}, {settings['model']}"
        _write_report(results, output, settings["targets"], title, out)
    return results


def _dask_client(scheduler, n_workers, threads):
    """A ``distributed.Client``: of a new LocalCluster for ``"local"``, else of the scheduler at that address."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ValueError("--scheduler needs dask's distributed: pip install 'skal[dask]'") from None
    if scheduler == "local":
        cluster = LocalCluster(n_workers=max(1, n_workers or 1), threads_per_worker=max(1, threads or 1),
                               dashboard_address=None)
        return Client(cluster)
    return Client(scheduler)


def _write_report(results, output, targets, title, out):
    table = results.format_table(targets=tuple(targets))
    (output / "summary.txt").write_text(table + "\n", encoding="utf-8")
    rows = results.summary(targets=tuple(targets))
    for row in rows:
        row["labels_to_target"] = {str(k): v for k, v in row["labels_to_target"].items()}
        row["reached"] = {str(k): v for k, v in row["reached"].items()}
    (output / "summary.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    results.plot(output / "learning_curves.png", title=title)
    print(table, file=out)
    learner_table = results.format_learner_table()
    if learner_table:  # what CEAL's pseudo-labels or a proxy's ranking did, per round
        (output / "learner.txt").write_text(learner_table + "\n", encoding="utf-8")
        print("\n" + learner_table, file=out)
    print(f"\nplot: {output / 'learning_curves.png'}\nrecords: {output / 'runs'}/", file=out, flush=True)


def _report(folders, output, targets, title):
    """The table and plot of one output folder, or of several merged into ``output``."""
    from skal.experiments import ExperimentResults, load_results

    folders = [Path(f) for f in folders]
    if len(folders) > 1 and output is None:
        raise ValueError("several folders are merged into one report: pass --output OUT for it.")
    config = {}
    config_path = folders[0] / "config.json"
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"{config_path} is not valid JSON ({exc}); it only gives the report's targets and title: "
                "delete it, or pass --targets and --title."
            ) from None
    records, origin = [], {}
    for folder in folders:
        found = load_results(folder).records
        for run in dict.fromkeys((r["strategy"], r["seed"]) for r in found):
            if run in origin:
                raise ValueError(
                    f"{folder} and {origin[run]} both hold the run of {run[0]!r}, seed {run[1]}: "
                    "report folders whose strategies (or learners) differ."
                )
            origin[run] = folder
        records.extend(found)
    targets = targets or config.get("targets") or DEFAULTS["targets"]
    title = title or config.get("title") or (
        f"{config['dataset']}, {config['model']}" if "dataset" in config else None
    )
    output = folders[0] if output is None else Path(output)
    output.mkdir(parents=True, exist_ok=True)
    _write_report(ExperimentResults(records), output, targets, title, sys.stdout)


# A path that is missing, not a folder, a folder where a file should be, or
# not writable: what a mistyped --config, --data-root or --output gives.
_USER_OS_ERRORS = (FileNotFoundError, NotADirectoryError, IsADirectoryError, FileExistsError, PermissionError)


def main(argv=None):
    """Entry point of the ``skal`` console script.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments (``sys.argv[1:]`` when None).

    Returns
    -------
    status : int
        0 on success, 1 on a user error (reported on stderr in one line,
        ``skal: error: ...``), 130 when interrupted.
    """
    from skal.experiments._records import FolderInUseError

    args = _parser().parse_args(argv)
    try:
        if args.command == "report":
            _report(args.folders, args.output, args.targets, args.title)
        elif args.command == "label":
            from skal.session._cli import run_label

            run_label(args)
        else:
            run_from_settings(_settings(args))
    except KeyboardInterrupt:
        print("\ninterrupted: finished rounds are saved; run the same command again to resume.", file=sys.stderr)
        return 130
    except (ValueError, TypeError, FolderInUseError, *_USER_OS_ERRORS) as exc:
        # What validating the user's settings, files and data raises (skal's
        # and scikit-learn's checks raise ValueError or TypeError with the
        # fix in the message); other errors keep their traceback.
        print(f"skal: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # `skal report DIR | head`: the reader left; not an error of ours.
        sys.stderr.close()
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
