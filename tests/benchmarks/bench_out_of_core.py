"""BALD over pools that outgrow memory: memmaps, a Dask cluster, an image folder.

Not a test: run by hand (see ``docs/benchmarks_out_of_core.rst``)::

    PYTHONPATH=. .venv-bench/bin/python tests/benchmarks/bench_out_of_core.py --workdir /tmp/skal-ooc
    PYTHONPATH=. .venv-bench/bin/python tests/benchmarks/bench_out_of_core.py --quick --workdir /tmp/skal-ooc

The model is a DPE of 8 MLPs (64 -> 128 -> 10) fitted on 200 labeled rows;
the pool is ``n`` x 64 float32 Gaussian rows in a ``.npy`` file on disk.
Each measurement runs in a fresh process, so its peak resident memory
(``ru_maxrss``) is its own:

* ``skal memmap``: ``strategies.bald`` on ``np.load(path, mmap_mode="r")``,
  read chunk by chunk;
* ``skal dask``: the same pool as a ``dask.array`` whose blocks are read
  from the file by the workers of a 2-worker ``distributed.LocalCluster``
  (1 thread each), scored where they are; the peak RSS is this process's
  (the driver's);
* ``baal``, ``skactiveml``: the peers' BALD on the full ``(n, K, S)``
  array of predictive samples, which they need in memory (predicted by the
  same DPE in one pass), on the sizes that fit.

And a pool of MNIST PNG files (``skal.datasets.write_image_folder``)
scored by a DPE of 8 GalCNNs through ``image_folder``, DataLoader workers
decoding the files.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

D, K, N_LABELED, TOP = 64, 10, 200, 100


def make_file(path, n, block=1_000_000):
    """An (n, D) float32 .npy on disk, written block by block (never whole in memory)."""
    if path.exists():
        return
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, D))
    rng = np.random.default_rng(0)
    means = rng.standard_normal((K, D)).astype(np.float32)
    for a in range(0, n, block):
        b = min(n, a + block)
        out[a:b] = means[rng.integers(0, K, b - a)] + rng.standard_normal((b - a, D), dtype=np.float32)
    out.flush()
    del out


def fitted_dpe(X):
    import torch

    from skal.models import DeepProbabilisticEnsemble

    torch.manual_seed(0)
    labels = np.asarray(X[:N_LABELED]) @ np.random.default_rng(1).standard_normal((D, K)).astype(np.float32)
    return DeepProbabilisticEnsemble(n_estimators=8, max_epochs=20, random_state=0, device="cpu").fit(
        np.asarray(X[:N_LABELED]), labels.argmax(1)
    )


def dask_pool(path, n, chunk):
    """The file as a dask array whose blocks each worker reads from disk itself."""
    import dask
    import dask.array as da

    def read(a, b):
        return np.asarray(np.load(path, mmap_mode="r")[a:b])

    blocks = [da.from_delayed(dask.delayed(read)(a, min(n, a + chunk)), (min(n, a + chunk) - a, D), np.float32)
              for a in range(0, n, chunk)]
    return da.concatenate(blocks)


def run_one(impl, path, n):
    import torch

    torch.set_num_threads(2 if impl != "dask" else 1)
    X = np.load(path, mmap_mode="r")
    dpe = fitted_dpe(X)
    from skal.strategies import bald

    client = None
    if impl == "dask":
        import distributed

        client = distributed.Client(distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, dashboard_address=None, memory_limit="6GiB"))
        # the workers' one-off start (importing torch and skal) is not the scoring's cost
        client.wait_for_workers(2)
        client.run(lambda: __import__("skal.strategies"))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    if impl == "memmap":
        idx, _ = bald(dpe, X, TOP, random_state=0)
    elif impl == "dask":
        idx, _ = bald(dpe, dask_pool(str(path), n, 250_000), TOP, random_state=0)
    else:
        samples = dpe.predict_proba_samples(np.asarray(X)).astype(np.float32)  # (S, n, K)
        if impl == "baal":
            from baal.active.heuristics import BALD

            scores = BALD().get_uncertainties(np.ascontiguousarray(samples.transpose(1, 2, 0)))  # (n, K, S)
        else:  # scikit-activeml's mean KL to the consensus (BALD), on (S, n, K)
            from skactiveml.pool._query_by_committee import average_kl_divergence

            scores = average_kl_divergence(samples)
        idx = np.argpartition(-scores, TOP)[:TOP]
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if client is not None:
        client.close()
    print(json.dumps({"impl": impl, "n": n, "seconds": seconds, "peak_rss_mb": peak / 1024,
                      "rss_before_mb": base / 1024, "data_mb": n * D * 4 / 2**20,
                      "top": sorted(int(i) for i in idx)[:5]}), flush=True)


def run_images(folder, n):
    import torch

    from skal.datasets import image_folder
    from skal.models import DeepProbabilisticEnsemble, GalCNN
    from skal.strategies import bald

    torch.set_num_threads(2)
    pool = image_folder(folder)
    # labeled images read from the folder itself: nothing else is held in memory
    labeled = np.random.default_rng(0).choice(len(pool), N_LABELED, replace=False)
    X0 = torch.stack([pool[i][0] for i in labeled]).numpy()
    y0 = np.asarray(pool.targets)[labeled]
    dpe = DeepProbabilisticEnsemble(GalCNN, n_estimators=8, max_epochs=5, random_state=0, device="cpu")
    dpe.fit(X0, y0)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    idx, _ = bald(dpe, pool, TOP, random_state=0)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"impl": "image-folder", "n": len(pool), "seconds": seconds, "peak_rss_mb": peak / 1024,
                      "rss_before_mb": base / 1024, "loader_workers": os.environ.get("SKAL_LOADER_WORKERS"),
                      "top": sorted(int(i) for i in idx)[:5]}), flush=True)


def spawn(*args):
    out = subprocess.run([sys.executable, __file__, "--one", *map(str, args)], capture_output=True, text=True)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode or not lines:
        print(out.stderr[-3000:], file=sys.stderr)
        return {"impl": args[0], "n": args[-1], "error": out.stderr.strip().splitlines()[-1:]}
    print(lines[-1], flush=True)
    return json.loads(lines[-1])


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 4))
    for impl in dict.fromkeys(r["impl"] for r in rows if "seconds" in r and r["impl"] != "image-folder"):
        ok = sorted((r for r in rows if r["impl"] == impl and "seconds" in r), key=lambda r: r["n"])
        ax_t.loglog([r["n"] for r in ok], [r["seconds"] for r in ok], "o-", label=impl)
        ax_m.semilogx([r["n"] for r in ok], [r["peak_rss_mb"] for r in ok], "o-", label=impl)
    ax_t.set(xlabel="pool rows (x 64 float32)", ylabel="BALD top-100, seconds", title="time")
    ax_m.set(xlabel="pool rows (x 64 float32)", ylabel="peak RSS, MB", title="peak memory")
    ax_t.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=None, help="where the pool files go (disk, not memory)")
    parser.add_argument("--quick", action="store_true", help="10^4 and 10^5 rows, 2,000 images")
    parser.add_argument("--sizes", default=None, help="comma-separated pool sizes")
    parser.add_argument("--peer-max", type=int, default=1_000_000, help="largest pool given to the peers")
    parser.add_argument("--images", type=int, default=60_000, help="MNIST PNG files in the image pool (0: skip)")
    parser.add_argument("--impls", default="memmap,dask,baal,skactiveml")
    parser.add_argument("-o", "--output", default=None, help="folder for results.jsonl and the plot")
    parser.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--make", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.make:
        return make_file(Path(args.make[0]), int(args.make[1]))
    if args.one:
        if args.one[0] == "image-folder":
            return run_images(args.one[1], int(args.one[2]))
        return run_one(args.one[0], args.one[1], int(args.one[2]))
    if args.workdir is None:
        parser.error("--workdir is required: the folder for the pool files (on disk, not in memory)")
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",") if s] if args.sizes is not None else (
        [10_000, 100_000] if args.quick else [100_000, 1_000_000, 10_000_000])
    images = min(args.images, 2_000) if args.quick else args.images
    rows = []
    for n in sizes:
        path = work / f"pool_{n}.npy"
        # written by a child process: Linux hands a process's peak RSS on to
        # the children it starts, and writing the file would inflate theirs
        subprocess.run([sys.executable, __file__, "--make", str(path), str(n)], check=True)
        for impl in args.impls.split(","):
            if impl in ("baal", "skactiveml") and n > args.peer_max:
                continue
            rows.append(spawn(impl, path, n))
    if images:
        from skal.datasets import write_image_folder

        folder = write_image_folder("mnist", work / f"mnist_png_{images}", limit=images)
        rows.append(spawn("image-folder", folder, images))
    print(f"\n{'implementation':<16}{'pool rows':>12}{'seconds':>10}{'rows/s':>12}{'peak RSS MB':>13}{'time/memmap':>13}")
    for r in rows:
        if "seconds" not in r:
            print(f"{r['impl']:<16}{r['n']:>12}  failed: {r['error']}")
            continue
        ref = next((q for q in rows if q["impl"] == "memmap" and q["n"] == r["n"] and "seconds" in q), None)
        ratio = f"{r['seconds'] / ref['seconds']:.2f}" if ref else "-"
        print(f"{r['impl']:<16}{r['n']:>12}{r['seconds']:>10.1f}{r['n'] / r['seconds']:>12.0f}"
              f"{r['peak_rss_mb']:>13.0f}{ratio:>13}")
    if args.output:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        if any(r["impl"] != "image-folder" for r in rows):
            plot(rows, out / "bald_vs_pool_size.png")


if __name__ == "__main__":
    main()
