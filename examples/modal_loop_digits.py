"""A modAL-style active-learning loop: Pipeline(StandardScaler, DPE) + BALD on digits.

Nothing in the loop is custom: the estimator is a scikit-learn Pipeline, the
strategy a plain function, and the loop modAL's API. With modAL installed
(in an environment with scikit-learn < 1.8), ``--modal`` runs the very same
loop with ``modAL.models.ActiveLearner``.

Run ``python examples/modal_loop_digits.py --help`` for the options; the
defaults take well under a minute on a laptop CPU.
"""

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skal.models import DeepProbabilisticEnsemble
from skal.strategies import get_strategy


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8, help="query/teach rounds")
    parser.add_argument("--n-instances", type=int, default=10, help="labels queried per round")
    parser.add_argument("--n-initial", type=int, default=20,
                        help="class-balanced seed labels (a multiple of 10)")
    parser.add_argument("--n-estimators", type=int, default=4, help="DPE members")
    parser.add_argument("--max-epochs", type=int, default=30, help="epochs per (re)fit")
    parser.add_argument("--lr", type=float, default=1e-2,
                        help="Adam learning rate (few samples, few steps per epoch)")
    parser.add_argument("--beta", type=float, default=1.0, help="DPE prior weight")
    parser.add_argument("--strategy", default="bald",
                        help="a skal.strategies name: bald, entropy, var_ratios, batch_bald, random, ...")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--modal", action="store_true",
                        help="use modAL.models.ActiveLearner instead of skal's drop-in")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.modal:
        from modAL.models import ActiveLearner
    else:
        from skal import ActiveLearner

    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    X_pool, X_test, y_pool, y_test = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=args.random_state
    )
    rng = np.random.RandomState(args.random_state)
    per_class = max(1, args.n_initial // 10)
    seed = np.concatenate(
        [rng.choice(np.flatnonzero(y_pool == k), per_class, replace=False) for k in range(10)]
    )
    X_seed, y_seed = X_pool[seed], y_pool[seed]
    X_pool, y_pool = np.delete(X_pool, seed, axis=0), np.delete(y_pool, seed)

    dpe = make_pipeline(
        StandardScaler(),
        DeepProbabilisticEnsemble(
            n_estimators=args.n_estimators,
            beta=args.beta,
            max_epochs=args.max_epochs,
            lr=args.lr,
            random_state=args.random_state,
        ),
    )
    learner = ActiveLearner(
        estimator=dpe,
        query_strategy=get_strategy(args.strategy),
        X_training=X_seed,
        y_training=y_seed,
    )

    print(f"{'labels':>7} {'accuracy':>9} {'seconds':>8}")
    print(f"{len(y_seed):>7} {learner.score(X_test, y_test):>9.3f} {'':>8}")
    for round_ in range(args.rounds):
        start = time.perf_counter()
        query_idx, X_query = learner.query(
            X_pool, n_instances=args.n_instances, random_state=args.random_state + round_
        )
        learner.teach(X_query, y_pool[query_idx])
        X_pool = np.delete(X_pool, query_idx, axis=0)
        y_pool = np.delete(y_pool, query_idx)
        n_labels = len(learner.y_training)
        elapsed = time.perf_counter() - start
        print(f"{n_labels:>7} {learner.score(X_test, y_test):>9.3f} {elapsed:>8.2f}")


if __name__ == "__main__":
    main()
