"""Compare query strategies with a Deep Probabilistic Ensemble on digits (tabular).

A simulated labeling campaign through :func:`skal.experiments.run_experiment`:
20 class-balanced seed labels, 10 more per round, the model re-initialised
every round, several seeds. It prints the summary table (AUBC, final
accuracy, labels to reach 80% / 90%) and writes the learning-curve plot and
the per-round records; run it again after an interruption and it resumes.

    python examples/digits_campaign.py            # about 7 minutes on an idle CPU core
    python examples/digits_campaign.py --quick    # under 30 seconds

The defaults are those of ``skal run`` (its strategies random, BALD,
cluster-margin and ``auto``; a DPE of 8 MLP members trained for the
library's default length, at least 1,000 gradient steps per fit) with two
seeds instead of three: 8 runs of 9 fits each, 7 minutes of CPU time when
measured (single-threaded; 27 minutes of wall-clock time on 2 cores busy
with other jobs; docs/results/example_timings/). ``--quick`` (one seed,
20 -> 40 labels, 50 epochs per fit, its own output folder) is a smoke run.
"""

import argparse
from pathlib import Path

import torch
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skal.datasets import load_dataset
from skal.experiments import run_experiment
from skal.models import DeepProbabilisticEnsemble

#: The settings of a full run, and those --quick changes.
DEFAULTS = {"budget": 100, "seeds": "0,1", "max_epochs": None, "output": "skal-results/digits-campaign"}
# Its own folder: a run resumes only from records of the same settings.
QUICK = {"budget": 40, "seeds": "0", "max_epochs": 50, "output": "skal-results/digits-campaign-quick"}
#: What a run costs, measured (docs/results/example_timings/digits_campaign*.txt: CPU time of a
#: single-threaded run).
EXPECTED = {
    "default": "about 7 minutes on an idle CPU core (more on a busy one)",
    "quick": "under 30 seconds on an idle CPU core",
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=f"Cost: the defaults take {EXPECTED['default']}; --quick takes {EXPECTED['quick']}.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: " + ", ".join(f"{k.replace('_', '-')} {v}" for k, v in QUICK.items())
                        + " (options given explicitly still win)")
    parser.add_argument("--strategies", default="random,bald,cluster_margin,auto",
                        help="comma-separated skal.strategies names (default: those of skal run)")
    parser.add_argument("--budget", type=int, default=None,
                        help=f"total labels per run (default {DEFAULTS['budget']})")
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--seeds", default=None, help=f"comma-separated seeds (default {DEFAULTS['seeds']})")
    parser.add_argument("--n-estimators", type=int, default=8, help="DPE members")
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="epochs per fit (default: the library's, at least 1,000 gradient steps)")
    parser.add_argument("--beta", type=float, default=1.0, help="DPE prior weight")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1, as skal run: small nets run fastest "
                        "single-threaded; 0 keeps torch's default)")
    parser.add_argument("--output", default=None,
                        help=f"output folder (default {DEFAULTS['output']}, with --quick {QUICK['output']})")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
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
    strategies = args.strategies.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    print(
        f"digits_campaign: {len(strategies)} strategies x {len(seeds)} seeds, 20 -> {args.budget} labels; "
        f"expected time: {EXPECTED['quick' if args.quick else 'default']} "
        f"with {'--quick' if args.quick else 'the defaults'}",
        flush=True,
    )
    data = load_dataset("digits")
    # A Pipeline is a scikit-learn estimator like any other: the harness
    # clones it each round and seeds every random_state inside it.
    model = make_pipeline(
        StandardScaler(),
        DeepProbabilisticEnsemble(
            n_estimators=args.n_estimators,
            beta=args.beta,
            max_epochs=args.max_epochs,
            classes=data.classes.tolist(),
            device="cpu",
        ),
    )
    results = run_experiment(
        model,
        data.X_train,
        data.y_train,
        X_test=data.X_test,
        y_test=data.y_test,
        strategies=strategies,
        n_initial=20,
        batch_size=args.batch_size,
        budget=args.budget,
        seeds=seeds,
        output_dir=args.output,
        progress=not args.quiet,
    )
    print(results.format_table(targets=(0.8, 0.9)))
    plot = Path(args.output) / "learning_curves.png"
    results.plot(plot, title=f"digits, DPE ({args.n_estimators} MLP members)")
    print(f"plot: {plot}")


if __name__ == "__main__":
    main()
