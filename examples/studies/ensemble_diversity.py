"""Do the members disagree where the ensemble is wrong? DPE at several beta, deep ensemble, MC dropout.

Uncertainty sampling relies on the model's uncertainty pointing at its
mistakes. For labeled sets of growing size this study fits each model and,
on held-out points, reports accuracy, NLL, the mean mutual information
(BALD: the members' disagreement) and how well BALD and the predictive
entropy separate wrong from right predictions (ROC AUC: 0.5 is blind, 1 is
perfect):

    python examples/studies/ensemble_diversity.py --dataset digits -o docs/results/ensemble_diversity_digits
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skal import measures
from skal.experiments import initial_split
from skal.models import DeepEnsemble, DeepProbabilisticEnsemble, MCDropoutClassifier

try:  # run as a script from the repository root
    from training_length import load
except ImportError:  # pragma: no cover
    from examples.studies.training_length import load


def models(steps_per_epoch, steps, seed):
    epochs = math.ceil(steps / steps_per_epoch)
    common = dict(max_epochs=epochs, random_state=seed, device="cpu")
    out = {f"dpe beta={b:g}": DeepProbabilisticEnsemble(n_estimators=8, beta=b, **common) for b in (0.1, 1, 10, 100)}
    out["deep-ensemble"] = DeepEnsemble(n_estimators=8, **common)
    out["mc-dropout"] = MCDropoutClassifier(n_samples=20, **common)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--sizes", default="20,50,100,300")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("-o", "--output", default="skal-results/ensemble-diversity")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    X, y = load(args.dataset)
    K = len(np.unique(y))
    rows = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        pool, test = train_test_split(np.arange(len(y)), test_size=0.3, stratify=y, random_state=seed)
        for n in [int(s) for s in args.sizes.split(",")]:
            labeled = initial_split(y, pool, n, random_state=seed)
            scaler = StandardScaler().fit(X[labeled])
            Xl, Xt = scaler.transform(X[labeled]), scaler.transform(X[test])
            for name, est in models(math.ceil(n / 128), args.steps, seed).items():
                est.fit(Xl, y[labeled])
                P = est.predict_proba_samples(Xt)
                proba = P.mean(0)
                wrong = est.classes_[proba.argmax(1)] != y[test]
                bald, ent = measures.bald(P), measures.entropy(P)
                both = wrong.any() and (~wrong).any()
                rows.append({
                    "model": name, "n": n, "seed": seed,
                    "accuracy": float(1 - wrong.mean()),
                    "nll": float(log_loss(y[test], proba, labels=np.arange(K))),
                    "mean_bald": float(bald.mean()),
                    "auc_bald": float(roc_auc_score(wrong, bald)) if both else float("nan"),
                    "auc_entropy": float(roc_auc_score(wrong, ent)) if both else float("nan"),
                })
                print(json.dumps(rows[-1]), flush=True)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(rows, indent=1))
    names = list(dict.fromkeys(r["model"] for r in rows))
    lines = [f"{args.dataset}, {args.steps} gradient steps per fit, mean over seeds {args.seeds}",
             f"{'model':<16}{'n':>5}{'accuracy':>10}{'NLL':>8}{'mean BALD':>11}{'AUC BALD':>10}{'AUC H':>8}"]
    for name in names:
        for n in sorted({r["n"] for r in rows}):
            sel = [r for r in rows if r["model"] == name and r["n"] == n]
            m = {k: np.nanmean([r[k] for r in sel]) for k in ("accuracy", "nll", "mean_bald", "auc_bald", "auc_entropy")}
            lines.append(f"{name:<16}{n:>5}{m['accuracy']:>10.3f}{m['nll']:>8.3f}{m['mean_bald']:>11.4f}"
                         f"{m['auc_bald']:>10.3f}{m['auc_entropy']:>8.3f}")
    text = "\n".join(lines)
    (out / "summary.txt").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
