"""Scoring throughput and BatchBALD of skal against scikit-activeml and baal, side by side.

Not a test: run it by hand in an environment that also has the peers (see
docs/benchmarks_strategies.rst for the exact set-up)::

    .venv-bench/bin/python tests/benchmarks/bench_strategies.py            # full sizes
    .venv-bench/bin/python tests/benchmarks/bench_strategies.py --quick    # smoke run

Part 1 scores 1,000,000 rows x 10 classes x 8 samples with BALD and with
predictive entropy. skal reads the samples chunk by chunk through an
estimator-like object (as it would from a model) and runs the *whole*
strategy, selection included; the peers get the full array in their own
layout (copies made outside the timer) and are timed on their scoring
function plus an ``argpartition`` top-k, the cheapest way to use them.
Selections (top 100) are compared; peak memory is traced with tracemalloc.

Part 2 runs BatchBALD on a pool of 10,000 points with S = 100 samples,
b = 10 and 50, every implementation with the same number of joint
configurations (1,000). The batches are compared by their joint mutual
information, estimated for all of them by one common estimator (100,000
sampled configurations, fixed seed), next to BALD's top-b.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc

import numpy as np

from skal import measures, strategies


# --------------------------------------------------------------------------- data
def synthetic_samples(S, N, K, *, seed=0, dtype=np.float64):
    """``(S, N, K)`` samples with varied epistemic uncertainty per point.

    Each point gets a base distribution ``π ~ Dir(0.5)`` and a concentration
    ``c`` (log-uniform in [1, 100]); its S samples are ``Dir(c·π)``: small c,
    much disagreement (high BALD).
    """
    rng = np.random.default_rng(seed)
    out = np.empty((S, N, K), dtype=dtype)
    step = 100_000
    for a in range(0, N, step):
        b = min(a + step, N)
        base = rng.dirichlet(np.full(K, 0.5), size=b - a)
        conc = np.exp(rng.uniform(0, np.log(100), size=(b - a, 1)))
        shape = np.maximum(conc * base, 0.05)
        g = rng.standard_gamma(np.broadcast_to(shape, (S, b - a, K)))
        g += 1e-12  # no all-zero rows
        out[:, a:b] = g / g.sum(-1, keepdims=True)
    return out


class PrecomputedSamples:
    """Estimator-like: pool rows are ``[[i], ...]`` indices into fixed samples.

    A contiguous chunk of the pool maps to a view of the samples (no copy),
    as if a model produced it for free, so the benchmark measures scoring.
    """

    def __init__(self, samples):
        self.samples = samples
        self.classes_ = np.arange(samples.shape[2])

    def predict_proba_samples(self, X):
        rows = np.asarray(X)[:, 0]
        start, stop = int(rows[0]), int(rows[-1]) + 1
        if stop - start == len(rows):
            return self.samples[:, start:stop]
        return self.samples[:, rows]


def pool_of(n):
    return np.arange(n)[:, None]


# --------------------------------------------------------------------------- harness
def best_time(fn, setup=None, repeat=3):
    best, out = np.inf, None
    for _ in range(repeat):
        args = setup() if setup else ()
        gc.collect()
        t0 = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t0)
        del args
    return best, out


def peak_bytes(fn, setup=None):
    args = setup() if setup else ()
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn(*args)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def top_k(scores, k):
    idx = np.argpartition(-scores, k - 1)[:k]
    return idx[np.argsort(-scores[idx], kind="stable")]


def mib(x):
    return f"{x / 2**20:8.1f} MiB"


def row(name, seconds, n_rows, peak, ref, same):
    ratio = seconds / ref
    print(
        f"  {name:<34s} {seconds:8.3f} s  {n_rows / seconds / 1e6:7.2f} M rows/s"
        f"  peak {mib(peak)}  time/skal {ratio:6.2f}  same top-k: {same}"
    )


# --------------------------------------------------------------------------- part 1
def bench_scoring(N, S, K, k=100, repeat=3):
    from baal.active.heuristics import BALD as BaalBALD
    from baal.active.heuristics import Entropy as BaalEntropy
    from skactiveml.pool import batch_bald as ska_batch_bald
    from skactiveml.pool._query_by_committee import average_kl_divergence
    from skactiveml.pool._uncertainty_sampling import uncertainty_scores

    print(f"\n== Scoring throughput: {N:,} rows x {K} classes x {S} samples (float64) ==")
    P = synthetic_samples(S, N, K)
    P_baal = np.ascontiguousarray(P.transpose(1, 2, 0))  # baal: [N, C, S]
    model, X = PrecomputedSamples(P), pool_of(N)
    print(f"  samples: {mib(P.nbytes)} (skal/scikit-activeml layout) + {mib(P_baal.nbytes)} (baal layout)")
    results = {}

    for label, skal_fn, peers in [
        (
            "BALD",
            strategies.bald,
            [
                ("baal BALD", lambda: (), lambda: BaalBALD().get_uncertainties(P_baal)),
                (
                    "scikit-activeml batch_bald(b=1)",
                    lambda: (P.copy(),),  # it clips its input in place
                    lambda Q: ska_batch_bald(Q, 1)[0],
                ),
                (
                    "scikit-activeml average_kl (QBC)",
                    lambda: (P.copy(),),
                    lambda Q: average_kl_divergence(Q),
                ),
            ],
        ),
        (
            "entropy",
            strategies.entropy,
            [
                ("baal Entropy", lambda: (), lambda: BaalEntropy().get_uncertainties(P_baal)),
                (
                    "scikit-activeml uncertainty_scores",
                    lambda: (),
                    lambda: uncertainty_scores(P.mean(0), method="entropy"),
                ),
            ],
        ),
    ]:
        print(f"\n  -- {label} (top {k}) --")
        t_skal, (idx, _) = best_time(lambda: skal_fn(model, X, n_instances=k, random_state=0), repeat=repeat)
        m_skal = peak_bytes(lambda: skal_fn(model, X, n_instances=k, random_state=0))
        row("skal (chunked, full strategy)", t_skal, N, m_skal, t_skal, "-")
        ref = set(idx.tolist())
        peer_times = {}
        for name, setup, fn in peers:
            t, scores = best_time(lambda *a: top_k(fn(*a), k), setup=setup, repeat=repeat)
            m = peak_bytes(fn, setup=setup)
            same = set(scores.tolist()) == ref
            row(name, t, N, m, t_skal, same)
            peer_times[name] = (t, m, same)
        results[label] = (t_skal, m_skal, peer_times)
    del P, P_baal
    gc.collect()
    return results


# --------------------------------------------------------------------------- part 2
def duplicated_pool(N, S, K, *, copies=3, seed=1):
    """Repeated-MNIST-like: every point appears ``copies`` times (Kirsch et al., 2019).

    Returns the samples and, per row, the id of the original point (copies
    share it), to count batch slots wasted on copies.
    """
    n_unique = -(-N // copies)
    base = synthetic_samples(S, n_unique, K, seed=seed)
    ids = np.random.default_rng(seed).permutation(np.tile(np.arange(n_unique), copies)[:N])
    return np.ascontiguousarray(base[:, ids]), ids


def bench_batch_bald(N, S, K, batch_sizes, M=1000, repeat=1, judge_M=100_000):
    from baal.active.heuristics import BatchBALD as BaalBatchBALD
    from skactiveml.pool import batch_bald as ska_batch_bald

    print(
        f"\n== BatchBALD: pool {N:,}, S = {S}, K = {K}, {M} configurations for everyone "
        f"(every point repeated 3x) =="
    )
    P, ids = duplicated_pool(N, S, K)
    P_baal = np.ascontiguousarray(P.transpose(1, 2, 0))
    model, X = PrecomputedSamples(P), pool_of(N)

    def judge(batch):
        batch = np.asarray(batch)
        mi = measures.joint_mutual_information(
            P[:, batch], n_configurations=judge_M, random_state=0
        )
        wasted = len(batch) - len(np.unique(ids[batch]))
        return f"joint MI {mi:6.3f} nats, {wasted:2d} slots on copies"

    results = {}
    for b in batch_sizes:
        print(f"\n  -- b = {b} --  (joint MI judged with {judge_M:,} sampled configurations)")
        bald_top = top_k(measures.bald(P), b)
        print(f"  {'BALD top-b (reference)':<34s} {'':>10s}  {judge(bald_top)}")

        t_skal, (idx_skal, _) = best_time(
            lambda: strategies.batch_bald(model, X, n_instances=b, random_state=0, n_configurations=M),
            repeat=repeat,
        )
        mi_skal = judge(idx_skal)

        def mem(fn, setup=None):
            # traced once, at the first batch size only (tracing slows Python loops)
            return f"peak {mib(peak_bytes(fn, setup))}" if b == batch_sizes[0] else ""

        m = mem(lambda: strategies.batch_bald(model, X, n_instances=b, random_state=0, n_configurations=M))
        print(f"  {'skal batch_bald':<34s} {t_skal:8.2f} s  {mi_skal}  {m}")

        t_def, (idx_def, _) = best_time(
            lambda: strategies.batch_bald(model, X, n_instances=b, random_state=0), repeat=repeat
        )
        print(
            f"  {'skal batch_bald (default 10,000)':<34s} {t_def:8.2f} s  {judge(idx_def)}"
            f"  time/skal {t_def / t_skal:6.2f}"
        )

        t_ska, util = best_time(
            lambda Q: ska_batch_bald(Q, b, n_MC_samples=M, random_state=0),
            setup=lambda: (P.copy(),),
            repeat=repeat,
        )
        idx_ska = np.nanargmax(util, axis=1)
        mi_ska = judge(idx_ska)
        # copies tie exactly, so compare the original points, not the rows
        first_same = int(np.argmax(np.r_[ids[idx_ska] != ids[idx_skal], True]))
        m = mem(lambda Q: ska_batch_bald(Q, b, n_MC_samples=M, random_state=0), setup=lambda: (P.copy(),))
        print(
            f"  {'scikit-activeml batch_bald':<34s} {t_ska:8.2f} s  {mi_ska}"
            f"  time/skal {t_ska / t_skal:6.2f}  same first picks: {first_same}/{b}  {m}"
        )

        # baal samples S * num_draw configurations; num_draw = M / S matches M.
        t_baal, ranks = best_time(
            lambda: BaalBatchBALD(num_samples=b, num_draw=max(1, M // S)).get_ranks(P_baal)[0],
            repeat=repeat,
        )
        idx_baal = ranks[:b]
        mi_baal = judge(idx_baal)
        m = mem(lambda: BaalBatchBALD(num_samples=b, num_draw=max(1, M // S)).get_ranks(P_baal))
        print(
            f"  {'baal BatchBALD':<34s} {t_baal:8.2f} s  {mi_baal}"
            f"  time/skal {t_baal / t_skal:6.2f}  overlap with skal: "
            f"{len(set(ids[idx_baal].tolist()) & set(ids[idx_skal].tolist()))}/{b}  {m} (numpy part)"
        )
        results[b] = dict(
            skal=(t_skal, mi_skal), skal_default=(t_def,), ska=(t_ska, mi_ska, first_same),
            baal=(t_baal, mi_baal),
        )
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--part", choices=["scoring", "batchbald", "all"], default="all")
    args = parser.parse_args(argv)
    import sklearn
    import torch

    print(
        f"numpy {np.__version__}, scikit-learn {sklearn.__version__}, torch {torch.__version__} "
        f"(threads {torch.get_num_threads()})"
    )
    try:
        import baal
        import skactiveml

        print(f"baal {baal.__version__ if hasattr(baal, '__version__') else '?'}, "
              f"scikit-activeml {skactiveml.__version__}")
    except ImportError as exc:  # pragma: no cover - clear message for a bare env
        raise SystemExit(f"{exc}: install the peers first (see docs/benchmarks_strategies.rst)")
    if args.part in ("scoring", "all"):
        N = 50_000 if args.quick else 1_000_000
        bench_scoring(N, S=8, K=10, repeat=1 if args.quick else 3)
    if args.part in ("batchbald", "all"):
        if args.quick:
            bench_batch_bald(2000, S=20, K=10, batch_sizes=[5], M=200, judge_M=10_000)
        else:
            bench_batch_bald(10_000, S=100, K=10, batch_sizes=[10, 50])


if __name__ == "__main__":
    main()
