"""Tabular rows as images: do CNN members on a learned layout beat MLP members?

For each data set, a Deep Probabilistic Ensemble of 8 members is trained on
the whole training split and scored on the test split, with three kinds of
members:

* ``mlp``: skal's MLP on the rows themselves;
* ``cnn-layout``: a SmallCNN on :class:`skal.preprocessing.TabularToImage`'s
  images (features placed by their correlations);
* ``cnn-random-layout``: the same SmallCNN on images whose features sit at
  random pixels: what the learned layout adds over "any grid".

    python examples/studies/tabular_as_images.py -o docs/results/tabular_as_images \
        --datasets breast-cancer --max-epochs 50
    python examples/studies/tabular_as_images.py -o docs/results/tabular_as_images \
        --datasets local-features --max-epochs 30
    python examples/studies/tabular_as_images.py -o docs/results/tabular_as_images --layouts-only

A run replaces the rows of its data sets and members (``--datasets``,
``--models``) in ``results.json`` and keeps the others, so they can be run
one at a time (with different training lengths: ``max_epochs`` is in every
row and in the summary).

The data sets are ``load_dataset("breast-cancer")`` and
``load_dataset("local-features", n_samples=1500, side=12)``, split by the
loader (70/30, stratified). The output folder gets ``results.json`` and
``summary.txt`` (test accuracy and NLL, mean ± std over the seeds, and the
seconds per fit), and, with ``--layouts-only``, the layouts TabularToImage
learns from each training split (``layout_<dataset>.png``) and
``layout_fidelity.txt``: for ``local-features``, how far apart in the hidden
12x12 image two features are when the layout puts them side by side.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import log_loss
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skal.datasets import load_dataset
from skal.models import DeepProbabilisticEnsemble, SmallCNN
from skal.preprocessing import TabularToImage

DATASETS = {
    "breast-cancer": {},
    "local-features": {"n_samples": 1500, "side": 12},
}
WIDTHS = (8, 16, 32)
KINDS = ("mlp", "cnn-layout", "cnn-random-layout")


def _random_layout(shape, n_features, seed):
    """Features at random pixels of a ``shape`` grid (the control of the learned layout)."""
    pixels = np.random.RandomState(seed).permutation(shape[1] * shape[2])[:n_features]

    def draw(X):
        images = np.zeros((len(X),) + shape, dtype=np.float32)
        images.reshape(len(X), -1)[:, pixels] = X
        return images

    return FunctionTransformer(draw)


def _short(name):
    """'mean radius' -> 'm.radius', 'worst concave points' -> 'w.concave points'."""
    for prefix, short in (("mean ", "m."), ("worst ", "w.")):
        if name.startswith(prefix):
            return short + name[len(prefix):]
    return "e." + name[: -len(" error")] if name.endswith(" error") else name


def draw_layouts(out):
    """Each data set's learned layout as a figure, and the layout's fidelity on local-features."""
    from sklearn.datasets import load_breast_cancer

    from skal.datasets import make_local_features

    lines = []
    for name, params in DATASETS.items():
        data = load_dataset(name, **params)
        tti = TabularToImage(random_state=0).fit(data.X_train)
        if name == "breast-cancer":
            names = [_short(n) for n in load_breast_cancer().feature_names]
        else:
            # the loader's columns, in the loader's order (random_state=0)
            hidden = make_local_features(**{**params, "random_state": 0})
            rows, cols = np.divmod(hidden.permutation, hidden.side)
            names = [f"{r},{c}" for r, c in zip(rows, cols)]
            true = np.column_stack([rows, cols])
            layout = tti.positions_
            apart = np.abs(layout[:, None] - layout[None]).sum(-1)
            truth = np.abs(true[:, None] - true[None]).sum(-1)
            pairs = np.triu(np.ones_like(apart, dtype=bool), 1)
            lines.append(
                f"{name}: features side by side in the layout are {truth[pairs & (apart == 1)].mean():.2f} "
                f"pixels apart in the hidden image (Manhattan); any two features {truth[pairs].mean():.2f}"
            )
        ax = tti.plot_layout(input_features=names, fontsize=5)
        ax.figure.savefig(out / f"layout_{name.replace('-', '_')}.png", dpi=130)
    (out / "layout_fidelity.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def make_model(kind, seed, image_shape, n_features, max_epochs):
    common = dict(n_estimators=8, max_epochs=max_epochs, random_state=seed, device="cpu")
    if kind == "mlp":
        return DeepProbabilisticEnsemble(**common)
    cnn = DeepProbabilisticEnsemble(module=SmallCNN, module__widths=WIDTHS, **common)
    if kind == "cnn-layout":
        return make_pipeline(TabularToImage(random_state=seed), cnn)
    return make_pipeline(_random_layout(image_shape, n_features, seed), cnn)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="skal-results/tabular_as_images")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--models", nargs="+", choices=list(KINDS), default=list(KINDS))
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="epochs per fit (default: the estimators' own, at least 1,000 steps)")
    parser.add_argument("--layouts-only", action="store_true",
                        help="draw the learned layouts and measure their fidelity, train nothing")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    if args.layouts_only:
        draw_layouts(out)
        return
    previous = json.loads((out / "results.json").read_text()) if (out / "results.json").is_file() else []
    rows = [r for r in previous if not (r["dataset"] in args.datasets and r["model"] in args.models)]
    for name in args.datasets:
        params = DATASETS[name]
        data = load_dataset(name, **params)
        n_features = data.X_train.shape[1]
        image_shape = TabularToImage().fit(data.X_train[:2]).image_shape_
        for kind in args.models:
            for seed in args.seeds:
                model = make_model(kind, seed, image_shape, n_features, args.max_epochs)
                t0 = time.perf_counter()
                model.fit(data.X_train, data.y_train)
                seconds = time.perf_counter() - t0
                proba = model.predict_proba(data.X_test)
                rows.append({
                    "dataset": name, "model": kind, "seed": seed, "max_epochs": args.max_epochs,
                    "n_train": len(data.y_train), "n_test": len(data.y_test),
                    "accuracy": float(np.mean(data.classes[proba.argmax(1)] == data.y_test)),
                    "nll": float(log_loss(data.y_test, proba, labels=data.classes)),
                    "fit_seconds": seconds,
                })
                print(json.dumps(rows[-1]), flush=True)
                (out / "results.json").write_text(json.dumps(rows, indent=1))
    lines = [f"{'dataset':<15} {'members':<18} {'epochs':>6} {'seeds':>5} {'accuracy':>15} {'NLL':>13} "
             f"{'fit s':>7}"]
    for name in DATASETS:
        for kind in KINDS:
            sel = [r for r in rows if r["dataset"] == name and r["model"] == kind]
            if not sel:
                continue
            acc = np.array([r["accuracy"] for r in sel])
            nll = np.array([r["nll"] for r in sel])
            secs = np.mean([r["fit_seconds"] for r in sel])
            epochs = sel[0].get("max_epochs") or "auto"
            lines.append(f"{name:<15} {kind:<18} {epochs:>6} {len(sel):>5} {acc.mean():>8.4f}±{acc.std():.4f} "
                         f"{nll.mean():>6.3f}±{nll.std():.3f} {secs:>7.1f}")
    (out / "summary.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
