"""Every query strategy on one campaign: does it beat random labeling?

The comparison behind ``docs/label_efficiency.rst``: one model, one data
set, every strategy (random, uncertainty, disagreement, BatchBALD and the
batch-aware family), 3 seeds, through the harness; the output folder is a
``skal run`` folder (``skal report DIR`` redraws it). Interrupted runs
resume. The settings of the documented runs:

    python examples/studies/compare_strategies.py digits --batch-size 10 --budget 100 -o docs/results/strategies_digits_b10
    python examples/studies/compare_strategies.py digits --batch-size 50 --budget 320 -o docs/results/strategies_digits_b50
    python examples/studies/compare_strategies.py mnist --model mc-dropout --budget 150 --pool-subset 1000 \
        --test-size 2000 --set core --param batch_size=32 -o docs/results/strategies_mnist_mc_dropout
    python examples/studies/compare_strategies.py mnist --model dpe --flatten --budget 150 \
        --pool-subset 1000 --test-size 2000 --set core -o docs/results/strategies_mnist_dpe
    python examples/studies/compare_strategies.py mnist --model mc-dropout --batch-size 50 --budget 320 \
        --pool-subset 1000 --test-size 2000 --strategies random,bald,auto --param batch_size=32 \
        -o docs/results/strategies_mnist_mc_dropout_b50
    python examples/studies/compare_strategies.py mnist --model dpe --flatten --batch-size 50 --budget 320 \
        --pool-subset 1000 --test-size 2000 --strategies random,bald,auto -o docs/results/strategies_mnist_dpe_b50
    python examples/studies/compare_strategies.py digits --batch-size 10 --budget 100 --set learned \
        -o docs/results/strategies_digits_b10   # the learned family, added to the b=10 folder

(On MNIST the DPE's members are MLPs on the flattened images: eight
GalCNNs per fit, 14 fits per run, are a GPU's job, not two CPU cores'.)
"""

from __future__ import annotations

import argparse

import torch

from skal.cli import _key_value, _subsample
from skal.datasets import load_dataset
from skal.experiments import make_estimator, run_experiment

#: Every strategy, under the names the tables use.
ALL = {
    "random": "random",
    "entropy": "entropy",
    "margin": "margin",
    "bald": "bald",
    "batch_bald": ("batch_bald", {"n_candidates": 500}),
    "power_bald": "power_bald",
    "power_entropy": "power_entropy",
    "power_margin": "power_margin",
    "badge": "badge",
    "coreset": "coreset",
    "typiclust": "typiclust",
    "typiclust_input": ("typiclust", {"representation": "input"}),
    "cluster_margin": "cluster_margin",
    "suggestive": "suggestive_annotation",
    "density": "information_density",
    "egl": "egl",
    "emoc": "emoc",
    "cal": "cal",
    "auto": "auto",
    # The learned family: each trains a model of its own at every query.
    "learning_loss": "learning_loss",
    "label_dispersion": "label_dispersion",
    "dal": "dal",
    "vaal": "vaal",
    "mal": "mal",
}
#: The strategies of the costlier campaigns.
CORE = ["random", "entropy", "bald", "batch_bald", "power_bald", "badge", "coreset",
        "typiclust_input", "cluster_margin", "auto"]
#: The strategies that train a model of their own, beside random and BALD.
LEARNED = ["random", "bald", "learning_loss", "label_dispersion", "dal", "vaal", "mal"]
SETS = {"all": list(ALL), "core": CORE, "learned": LEARNED}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=["digits", "mnist"])
    parser.add_argument("--model", default="dpe")
    parser.add_argument("--set", choices=["all", "core", "learned"], default="all")
    parser.add_argument("--strategies", default=None, help="comma-separated names of ALL (overrides --set)")
    parser.add_argument("--n-initial", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--pool-subset", type=int, default=None)
    parser.add_argument("--test-size", type=int, default=None)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--flatten", action="store_true", help="images as flat rows (MLP members)")
    parser.add_argument("--param", action="append", default=[], type=_key_value, metavar="KEY=VALUE",
                        help="estimator parameter, repeatable (as skal run --model-param)")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = load_dataset(args.dataset, args.data_root, flatten=True if args.flatten else None)
    X_test, y_test = _subsample(data.X_test, data.y_test, args.test_size, 1, "test_size")
    names = args.strategies.split(",") if args.strategies else SETS[args.set]
    estimator = make_estimator(args.model, images=data.X_train.ndim > 2, classes=data.classes,
                               params=dict(args.param))
    results = run_experiment(
        estimator, data.X_train, data.y_train, X_test=X_test, y_test=y_test,
        strategies={name: ALL[name] for name in names},
        n_initial=args.n_initial, batch_size=args.batch_size, budget=args.budget,
        pool_subset=args.pool_subset, seeds=[int(s) for s in args.seeds.split(",")],
        output_dir=args.output, n_jobs=args.n_jobs, progress=False,
    )
    targets = (0.8, 0.9)
    table = results.format_table(targets=targets)
    with open(f"{args.output}/summary.txt", "w", encoding="utf-8") as fh:
        fh.write(table + "\n")
    results.plot(f"{args.output}/learning_curves.png", title=f"{args.dataset}, {args.model}, batches of {args.batch_size}")
    print(table)


if __name__ == "__main__":
    main()
