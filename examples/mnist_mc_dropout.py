"""Active learning on MNIST images with MC dropout and Gal et al.'s CNN.

An explicit query/teach loop with :class:`skal.ActiveLearner` (modAL's API)
around :class:`skal.models.MCDropoutClassifier` with
:class:`skal.models.GalCNN`, as in Gal, Islam & Ghahramani (2017): 20
class-balanced seed labels, BALD (or any registered strategy) scoring a
random subset of the pool each round, the model re-initialised before every
fit. Each round prints the test accuracy and the acquisition score of the
best point the strategy chose. MNIST is read from its local gzipped IDX
files (nothing downloaded):

    python examples/mnist_mc_dropout.py --data-root ../shared/data           # about 8 minutes on a CPU core
    python examples/mnist_mc_dropout.py --data-root ../shared/data --quick   # under 30 seconds

The fits train as skal's MNIST campaigns do (docs/label_efficiency.rst):
the library's default length (at least 1,000 gradient steps per fit) in
minibatches of 32. That is the costly part: the defaults (10 rounds, 20 ->
120 labels, 2,000 points scored per round, 10,000 test images) took 8
minutes of CPU time when measured (single-threaded; 8 minutes of
wall-clock time on 2 cores shared with other jobs, more when they are
busy; docs/results/example_timings/). ``--quick`` (2 rounds, 50 epochs per fit,
200 points scored, 500 test images) is a smoke run that still ends well
above chance. These times are a CPU's; with a GPU (``--device auto``, the
default) the networks train there (not measured here).

For the full comparison of strategies (random, max entropy, BALD, BatchBALD;
MC dropout and DPE) use ``skal run --config examples/configs/mnist_gal2017_reduced.toml``.
"""

import argparse
import time

import numpy as np
import torch

from skal import ActiveLearner
from skal.datasets import load_dataset
from skal.experiments import initial_split
from skal.models import GalCNN, MCDropoutClassifier

#: The settings of a full run, and those --quick changes.
DEFAULTS = {"rounds": 10, "pool_subset": 2000, "test_size": 10000, "max_epochs": None}
QUICK = {"rounds": 2, "pool_subset": 200, "test_size": 500, "max_epochs": 50}
#: What a run costs, measured (docs/results/example_timings/mnist_mc_dropout*.txt: CPU time of a
#: single-threaded run).
EXPECTED = {
    "default": "about 8 minutes on an idle CPU core (more on a busy one)",
    "quick": "under 30 seconds on an idle CPU core",
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=f"Cost: the defaults take {EXPECTED['default']}; "
        f"--quick takes {EXPECTED['quick']}.",
    )
    parser.add_argument("--data-root", default=None,
                        help="folder holding mnist/ (default: $SKAL_DATA_ROOT or ../shared/data)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: " + ", ".join(f"{k.replace('_', '-')} {v}" for k, v in QUICK.items())
                        + " (options given explicitly still win)")
    parser.add_argument("--strategy", default="bald", help="a skal.strategies name")
    parser.add_argument("--rounds", type=int, default=None, help=f"default {DEFAULTS['rounds']}")
    parser.add_argument("--n-instances", type=int, default=10, help="labels per round")
    parser.add_argument("--pool-subset", type=int, default=None,
                        help="unlabeled points scored per round (a random subset; "
                        f"default {DEFAULTS['pool_subset']})")
    parser.add_argument("--test-size", type=int, default=None,
                        help=f"test images evaluated (default {DEFAULTS['test_size']})")
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="epochs per fit (default: the library's, at least 1,000 gradient steps)")
    parser.add_argument("--batch-size", type=int, default=32, help="training minibatch")
    parser.add_argument("--n-samples", type=int, default=20, help="MC dropout samples")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads on a CPU (default 1, as skal run: small nets run fastest "
                        "single-threaded; 0 keeps torch's default)")
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else DEFAULTS
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"mnist_mc_dropout: {args.strategy}, {args.rounds} rounds of {args.n_instances} labels, "
        f"{args.pool_subset} points scored per round, {args.test_size} test images; expected time: "
        f"{EXPECTED['quick' if args.quick else 'default']} with {'--quick' if args.quick else 'the defaults'}",
        flush=True,
    )
    rng = np.random.default_rng(args.random_state)
    data = load_dataset("mnist", args.data_root)  # images (n, 1, 28, 28) in [0, 1]
    X_test, y_test = data.X_test[: args.test_size], data.y_test[: args.test_size]
    labeled = initial_split(data.y_train, np.arange(len(data.y_train)), 20, random_state=args.random_state)
    unlabeled = np.setdiff1d(np.arange(len(data.y_train)), labeled)

    model = MCDropoutClassifier(
        module=GalCNN,
        n_samples=args.n_samples,
        max_epochs=args.max_epochs,
        batch_size=args.batch_size,
        classes=data.classes.tolist(),
        device=args.device,
        random_state=args.random_state,
    )
    learner = ActiveLearner(
        estimator=model,
        query_strategy=args.strategy,
        X_training=data.X_train[labeled],
        y_training=data.y_train[labeled],
    )
    start = time.perf_counter()
    print(f"labels {len(labeled):4d}  accuracy {learner.score(X_test, y_test):.4f}", flush=True)
    for _ in range(args.rounds):
        subset = rng.choice(unlabeled, size=min(args.pool_subset, len(unlabeled)), replace=False)
        t0 = time.perf_counter()
        # return_metrics=True: also the strategy's scores of the chosen points
        # (the second value is the chosen images themselves).
        idx, _, scores = learner.query(data.X_train[subset], n_instances=args.n_instances, return_metrics=True)
        query_s = time.perf_counter() - t0
        chosen = subset[idx]
        t0 = time.perf_counter()
        # only_new=False refits on all labels so far, from fresh weights
        # (MCDropoutClassifier re-initialises on fit), as in Gal et al.
        learner.teach(data.X_train[chosen], data.y_train[chosen])
        fit_s = time.perf_counter() - t0
        unlabeled = np.setdiff1d(unlabeled, chosen)
        print(
            f"labels {len(learner.y_training):4d}  accuracy {learner.score(X_test, y_test):.4f}  "
            f"query {query_s:5.1f}s  fit {fit_s:5.1f}s  top {args.strategy} score {np.max(scores):.3f}",
            flush=True,
        )
    print(f"done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
