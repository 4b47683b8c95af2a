"""Core-set, BADGE and cluster-margin at scale: skal against scikit-activeml, side by side.

Not a test: run by hand in the environment that also has the peers (see
``docs/benchmarks_strategies.rst``)::

    PYTHONPATH=. .venv-bench/bin/python tests/benchmarks/bench_batch_aware.py            # full sizes
    PYTHONPATH=. .venv-bench/bin/python tests/benchmarks/bench_batch_aware.py --quick    # smoke run
    PYTHONPATH=. .venv-bench/bin/python tests/benchmarks/bench_batch_aware.py --skip-peers

The pool is Gaussian embeddings (10 classes, class means drawn from a
Gaussian, unit noise), ``n`` rows of ``d`` float32 features, 100 of them
labeled; a logistic regression fitted on the labeled rows gives the class
probabilities that BADGE and cluster-margin need, and the embedding is the
features themselves (both libraries use X as the embedding). Each
implementation runs in a fresh process, so its peak resident memory
(``ru_maxrss``) is its own; the data are rebuilt there from the same seed.
Reported: wall time, peak RSS, the ratio to skal, and a quality measure of
the selection computed the same way for everyone: the covering radius
(core-set: the largest distance of any pool point to the labeled and
selected points; lower is better) and the k-means++ potential of the
selection in gradient-embedding space (BADGE: the sum over the pool of the
squared distance to the nearest selected point; lower is better).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np


# --------------------------------------------------------------------------- data
def make_pool(n, d, n_labeled=100, n_classes=10, seed=0):
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((n_classes, d)).astype(np.float32)
    y = rng.integers(0, n_classes, n)
    X = means[y] + rng.standard_normal((n, d), dtype=np.float32)
    labeled = rng.choice(n, n_labeled, replace=False)
    return X, y, labeled


def fitted_classifier(X, y, labeled):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=500).fit(X[labeled], y[labeled])


# --------------------------------------------------------------------------- quality
def covering_radius(X, centres, block=8192):
    import torch

    C = torch.as_tensor(centres)
    cc = (C**2).sum(1)
    worst = 0.0
    for a in range(0, len(X), block):
        B = torch.as_tensor(X[a : a + block])
        d2 = (B**2).sum(1, keepdim=True) + cc - 2 * B @ C.T
        worst = max(worst, float(d2.min(1).values.clamp_min(0).max()))
    return float(np.sqrt(worst))


def kmeans_potential(factors, picks, block=8192):
    """Σ_i min_j ‖g_i - g_j‖² over the pool, g = a ⊗ b given by its factors."""
    import torch

    A, B = (torch.as_tensor(f) for f in factors)
    Ap, Bp = A[picks], B[picks]
    sq = (A**2).sum(1) * (B**2).sum(1)
    sqp = sq[picks]
    total = 0.0
    for a in range(0, len(A), block):
        dots = (A[a : a + block] @ Ap.T) * (B[a : a + block] @ Bp.T)
        d2 = sq[a : a + block, None] + sqp[None] - 2 * dots
        total += float(d2.min(1).values.clamp_min(0).sum())
    return total


# --------------------------------------------------------------------------- runners
def run_one(task, impl, n, d, b):
    """Run one implementation; prints a JSON line (time, peak RSS, quality)."""
    import torch

    torch.set_num_threads(2)
    X, y, labeled = make_pool(n, d)
    pool = np.setdiff1d(np.arange(n), labeled)
    clf = fitted_classifier(X, y, labeled)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    if task == "coreset" and impl == "skal":
        from skal.strategies import coreset

        idx, _ = coreset(clf, X[pool], b, X_labeled=X[labeled], representation="input", random_state=0)
        picks = pool[idx]
    elif task == "coreset" and impl == "skactiveml":
        from skactiveml.pool import CoreSet

        y_partial = np.full(n, np.nan)
        y_partial[labeled] = y[labeled]
        picks = CoreSet(random_state=0).query(X, y_partial, batch_size=b)
    elif task == "badge" and impl == "skal":
        from skal.strategies import badge

        idx, _ = badge(clf, X[pool], b, random_state=0)
        picks = pool[idx]
    elif task == "badge" and impl == "skactiveml":
        from skactiveml.classifier import SklearnClassifier
        from skactiveml.pool import Badge
        from sklearn.linear_model import LogisticRegression

        y_partial = np.full(n, np.nan)
        y_partial[labeled] = y[labeled]
        wrapped = SklearnClassifier(LogisticRegression(max_iter=500), classes=np.arange(10))
        wrapped.fit(X, y_partial)
        picks = Badge(random_state=0).query(X, y_partial, wrapped, fit_clf=False, batch_size=b)
    elif task == "cluster_margin" and impl == "skal":
        from skal.strategies import cluster_margin

        idx, _ = cluster_margin(clf, X[pool], b, random_state=0)
        picks = pool[idx]
    else:
        raise ValueError((task, impl))
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    picks = np.asarray(picks)
    result = {"task": task, "impl": impl, "n": n, "d": d, "b": b, "seconds": seconds,
              "peak_rss_mb": peak / 1024, "rss_before_mb": base_rss / 1024,
              "distinct": int(len(np.unique(picks))), "data_mb": X.nbytes / 2**20}
    if task == "coreset":
        result["covering_radius"] = covering_radius(X[pool], np.concatenate([X[labeled], X[picks]]))
    if task == "badge":
        from skal.strategies._hybrid import gradient_embedding

        proba = clf.predict_proba(X[pool]).astype(np.float32)
        position = {p: i for i, p in enumerate(pool)}
        result["kmeans_potential"] = kmeans_potential(
            gradient_embedding(proba, X[pool]), np.array([position[p] for p in picks])
        )
    print(json.dumps(result), flush=True)


def spawn(task, impl, n, d, b):
    out = subprocess.run(
        [sys.executable, __file__, "--one", task, impl, str(n), str(d), str(b)],
        capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        return {"task": task, "impl": impl, "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--tasks", default="coreset,badge,cluster_margin")
    parser.add_argument("--one", nargs=5, metavar=("TASK", "IMPL", "N", "D", "B"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        task, impl, n, d, b = args.one
        run_one(task, impl, int(n), int(d), int(b))
        return
    sizes = {
        "coreset": (100_000, 512, 1_000),
        "badge": (100_000, 512, 1_000),
        "cluster_margin": (1_000_000, 64, 10_000),
    }
    if args.quick:
        sizes = {"coreset": (5_000, 64, 50), "badge": (5_000, 64, 50), "cluster_margin": (20_000, 16, 200)}
    results = []
    for task in args.tasks.split(","):
        impls = ["skal"] if task == "cluster_margin" or args.skip_peers else ["skal", "skactiveml"]
        for impl in impls:
            results.append(spawn(task, impl, *sizes[task]))
            print(json.dumps(results[-1]), flush=True)
    print()
    print(f"{'task':<15}{'implementation':<16}{'time s':>9}{'peak RSS MB':>13}{'time/skal':>11}  quality")
    for task in args.tasks.split(","):
        rows = [r for r in results if r["task"] == task]
        ours = next((r for r in rows if r["impl"] == "skal" and "seconds" in r), None)
        for r in rows:
            if "error" in r:
                print(f"{task:<15}{r['impl']:<16}  failed: {r['error']}")
                continue
            quality = {k: r[k] for k in ("covering_radius", "kmeans_potential") if k in r}
            ratio = r["seconds"] / ours["seconds"] if ours else float("nan")
            print(f"{task:<15}{r['impl']:<16}{r['seconds']:>9.1f}{r['peak_rss_mb']:>13.0f}{ratio:>11.1f}  "
                  + ", ".join(f"{k} {v:.4g}" for k, v in quality.items()))


if __name__ == "__main__":
    main()
