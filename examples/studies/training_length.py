"""How long should a network train on a tiny labeled set? Accuracy against gradient steps.

With ``max_epochs`` fixed, the number of gradient steps grows with the
labeled set: 100 epochs at batch 128 are 100 steps on 20 labels and 300 on
300. This study trains skal's deep estimators on class-balanced labeled
subsets of several sizes for a fixed number of *steps* (and weight decays),
and reports test accuracy and NLL, averaged over seeds:

    python examples/studies/training_length.py --dataset digits -o docs/results/training_length_digits
    python examples/studies/training_length.py --dataset breast-cancer -o docs/results/training_length_breast_cancer

The output folder gets ``results.json`` and ``summary.txt``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skal.experiments import initial_split
from skal.models import DeepEnsemble, DeepProbabilisticEnsemble, MCDropoutClassifier


def load(name):
    from sklearn import datasets

    if name == "mnist":
        from skal.datasets import load_dataset

        data = load_dataset("mnist")
        X = np.concatenate([data.X_train, data.X_test])
        return X, np.concatenate([data.y_train, data.y_test])
    if name == "digits":
        X, y = datasets.load_digits(return_X_y=True)
    elif name == "breast-cancer":
        X, y = datasets.load_breast_cancer(return_X_y=True)
    elif name == "wine":
        X, y = datasets.load_wine(return_X_y=True)
    else:
        raise ValueError(name)
    return X.astype(np.float32), y


MODELS = {
    "dpe": lambda **kw: DeepProbabilisticEnsemble(n_estimators=8, **kw),
    "deep-ensemble": lambda **kw: DeepEnsemble(n_estimators=8, **kw),
    "mc-dropout": lambda **kw: MCDropoutClassifier(n_samples=20, **kw),
}


def image_model(model, **kw):
    """The image version of a model: members are Gal et al.'s CNN (dropout off in ensembles)."""
    from skal.models import GalCNN

    if model == "mc-dropout":
        return MCDropoutClassifier(GalCNN, n_samples=20, **kw)
    return MODELS[model](module=GalCNN, module__dropout=(0.0, 0.0), **kw)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--models", default="dpe,deep-ensemble,mc-dropout")
    parser.add_argument("--sizes", default="20,50,100,300")
    parser.add_argument("--steps", default="100,300,1000,3000")
    parser.add_argument("--weight-decay", default="0,1e-4,1e-3")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--test-size", type=int, default=None, help="evaluate on this many test rows")
    parser.add_argument("--gal-decay", type=float, default=None,
                        help="also try Gal et al.'s weight decay c / N with this c (e.g. 3.5)")
    parser.add_argument("-o", "--output", default="skal-results/training-length")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    X, y = load(args.dataset)
    K = len(np.unique(y))
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    images = X.ndim > 2
    for seed in [int(s) for s in args.seeds.split(",")]:
        pool, test = train_test_split(np.arange(len(y)), test_size=0.3, stratify=y, random_state=seed)
        if args.test_size:
            test = np.random.default_rng(seed).choice(test, args.test_size, replace=False)
        for n in [int(s) for s in args.sizes.split(",")]:
            labeled = initial_split(y, pool, n, random_state=seed)
            if images:  # pixels in [0, 1], as the CNN expects them
                Xl, Xt = X[labeled], X[test]
            else:
                scaler = StandardScaler().fit(X[labeled])
                Xl, Xt = scaler.transform(X[labeled]), scaler.transform(X[test])
            per_epoch = math.ceil(n / args.batch_size)
            decays = [float(w) for w in args.weight_decay.split(",")]
            if args.gal_decay:
                decays.append(2 * args.gal_decay / n)  # Keras' l2(c / N) in torch's convention
            for model, steps, wd in itertools.product(
                args.models.split(","), [int(s) for s in args.steps.split(",")], decays,
            ):
                make = (lambda **kw: image_model(model, **kw)) if images else MODELS[model]
                est = make(
                    max_epochs=math.ceil(steps / per_epoch), batch_size=args.batch_size,
                    optimizer__weight_decay=wd, random_state=seed, device="cpu",
                )
                t0 = time.perf_counter()
                est.fit(Xl, y[labeled])
                seconds = time.perf_counter() - t0
                proba = est.predict_proba(Xt)
                rows.append({
                    "model": model, "n": n, "steps": steps, "seed": seed,
                    "weight_decay": "c/N" if args.gal_decay and wd == 2 * args.gal_decay / n else wd,
                    "accuracy": float((est.classes_[proba.argmax(1)] == y[test]).mean()),
                    "nll": float(log_loss(y[test], proba, labels=np.arange(K))),
                    "seconds": seconds,
                })
                print(json.dumps(rows[-1]), flush=True)
    (out / "results.json").write_text(json.dumps(rows, indent=1))
    lines = []
    for model in args.models.split(","):
        lines.append(f"\n{model}: test accuracy (mean over seeds) / NLL, rows = labels, columns = steps x weight decay")
        keys = sorted({(r["steps"], r["weight_decay"]) for r in rows if r["model"] == model}, key=str)
        lines.append("n      " + "  ".join(f"{s:>5}/{str(w):<6}" for s, w in keys))
        for n in sorted({r["n"] for r in rows}):
            cells = []
            for s, w in keys:
                sel = [r for r in rows if (r["model"], r["n"], r["steps"], r["weight_decay"]) == (model, n, s, w)]
                cells.append(f"{np.mean([r['accuracy'] for r in sel]):.3f}/{np.mean([r['nll'] for r in sel]):.2f}")
            lines.append(f"{n:<6} " + "  ".join(f"{c:>12}" for c in cells))
    text = "\n".join(lines)
    (out / "summary.txt").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
