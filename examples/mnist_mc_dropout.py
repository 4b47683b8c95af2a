"""Active learning on MNIST images with MC dropout and Gal et al.'s CNN.

An explicit query/teach loop with :class:`skal.ActiveLearner` (modAL's API)
around :class:`skal.models.MCDropoutClassifier` with
:class:`skal.models.GalCNN`, as in Gal, Islam & Ghahramani (2017): 20
class-balanced seed labels, BALD (or any registered strategy) scoring a
random subset of the pool each round, the model re-initialised before every
fit. MNIST is read from its local gzipped IDX files (nothing downloaded):

    python examples/mnist_mc_dropout.py --data-root ../shared/data
    python examples/mnist_mc_dropout.py --rounds 2 --pool-subset 200 --test-size 500 --max-epochs 5

For the full comparison of strategies (random, max entropy, BALD, BatchBALD;
MC dropout and DPE) use ``skal run --config examples/configs/mnist_gal2017_reduced.toml``.
"""

import argparse
import time

import numpy as np

from skal import ActiveLearner
from skal.datasets import load_dataset
from skal.experiments import initial_split
from skal.models import GalCNN, MCDropoutClassifier


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None,
                        help="folder holding mnist/ (default: $SKAL_DATA_ROOT or ../shared/data)")
    parser.add_argument("--strategy", default="bald", help="a skal.strategies name")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--n-instances", type=int, default=10, help="labels per round")
    parser.add_argument("--pool-subset", type=int, default=2000,
                        help="unlabeled points scored per round (random subset)")
    parser.add_argument("--test-size", type=int, default=10000, help="test images evaluated")
    parser.add_argument("--max-epochs", type=int, default=100)
    parser.add_argument("--n-samples", type=int, default=20, help="MC dropout samples")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--random-state", type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    rng = np.random.default_rng(args.random_state)
    data = load_dataset("mnist", args.data_root)  # images (n, 1, 28, 28) in [0, 1]
    X_test, y_test = data.X_test[: args.test_size], data.y_test[: args.test_size]
    labeled = initial_split(data.y_train, np.arange(len(data.y_train)), 20, random_state=args.random_state)
    unlabeled = np.setdiff1d(np.arange(len(data.y_train)), labeled)

    model = MCDropoutClassifier(
        module=GalCNN,
        n_samples=args.n_samples,
        max_epochs=args.max_epochs,
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
    print(f"labels {len(labeled):4d}  accuracy {learner.score(X_test, y_test):.4f}")
    for _ in range(args.rounds):
        subset = rng.choice(unlabeled, size=min(args.pool_subset, len(unlabeled)), replace=False)
        t0 = time.perf_counter()
        idx, scores = learner.query(data.X_train[subset], n_instances=args.n_instances)
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
            f"query {query_s:5.1f}s  fit {fit_s:5.1f}s  top score {scores.max():.3f}"
        )


if __name__ == "__main__":
    main()
