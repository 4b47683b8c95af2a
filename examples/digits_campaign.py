"""Compare query strategies with a Deep Probabilistic Ensemble on digits (tabular).

A simulated labeling campaign through :func:`skal.experiments.run_experiment`:
20 class-balanced seed labels, 10 more per round, the model re-initialised
every round, several seeds. It prints the summary table (AUBC, final
accuracy, labels to reach 80% / 90%) and writes the learning-curve plot and
the per-round records; run it again after an interruption and it resumes.

    python examples/digits_campaign.py                     # about two minutes on 2 CPU cores
    python examples/digits_campaign.py --budget 40 --seeds 0 --max-epochs 20   # seconds
"""

import argparse
from pathlib import Path

from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skal.datasets import load_dataset
from skal.experiments import run_experiment
from skal.models import DeepProbabilisticEnsemble


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", default="random,entropy,bald,batch_bald",
                        help="comma-separated skal.strategies names")
    parser.add_argument("--budget", type=int, default=100, help="total labels per run")
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--seeds", default="0,1", help="comma-separated seeds")
    parser.add_argument("--n-estimators", type=int, default=8, help="DPE members")
    parser.add_argument("--max-epochs", type=int, default=200, help="epochs per fit")
    parser.add_argument("--beta", type=float, default=1.0, help="DPE prior weight")
    parser.add_argument("--output", default="skal-results/digits-campaign")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
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
        strategies=args.strategies.split(","),
        n_initial=20,
        batch_size=args.batch_size,
        budget=args.budget,
        seeds=[int(s) for s in args.seeds.split(",")],
        output_dir=args.output,
        progress=not args.quiet,
    )
    print(results.format_table(targets=(0.8, 0.9)))
    plot = Path(args.output) / "learning_curves.png"
    results.plot(plot, title="digits, DPE (8 MLP members)")
    print(f"plot: {plot}")


if __name__ == "__main__":
    main()
