"""DPE prior term at initialisation and digits accuracy at 300 labels, independent against matched draws.

Usage: ``python tests/benchmarks/bench_dpe_small_ensembles.py init`` or
``... acc {before,after} {DPE,DE}:E`` (issue 19, defect 7).

"before" = members drawn independently (DeepProbabilisticEnsemble._match_prior_moments = False),
"after"  = the fix (draws whose across-member mean and variance are the prior's).
"""
import sys, time
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skal.models import DeepEnsemble, DeepProbabilisticEnsemble

X, y = load_digits(return_X_y=True)
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
which = sys.argv[1]  # "init" or "acc"
modes = {"before": False, "after": True}

if which == "init":
    Xs = StandardScaler().fit_transform(Xtr[:300]).astype(np.float32)
    for mode, match in modes.items():
        DeepProbabilisticEnsemble._match_prior_moments = match
        for E in (2, 4, 8):
            vals = []
            for seed in range(5):
                dpe = DeepProbabilisticEnsemble(n_estimators=E, device="cpu", random_state=seed)
                dpe._initialize(Xs, ytr[:300])
                params = dpe.net_.module_.params_dict()
                n = sum(params[k][0].numel() for k in dpe.prior_)
                vals.append(dpe.net_.prior(params).item() / n)
            print(f"{mode:6s} E={E}: initial prior term (Omega - min) per parameter, 5 seeds: "
                  + " ".join(f"{v:.3g}" for v in vals), flush=True)
else:
    mode, spec = sys.argv[2], sys.argv[3]
    DeepProbabilisticEnsemble._match_prior_moments = modes[mode]
    kind, E = spec.split(":")
    cls = DeepProbabilisticEnsemble if kind == "DPE" else DeepEnsemble
    accs, t = [], time.time()
    for seed in (0, 1, 2):
        idx = np.random.RandomState(seed).permutation(len(Xtr))[:300]
        model = make_pipeline(StandardScaler(), cls(n_estimators=int(E), random_state=seed, device="cpu"))
        accs.append(model.fit(Xtr[idx], ytr[idx]).score(Xte, yte))
        extra = ""
        if kind == "DPE":
            h = model[-1].net_.history
            extra = f" omega first/last batch {h[0, 'batches', 0, 'omega']:.3g}/{h[-1, 'batches', -1, 'omega']:.3g}"
        print(f"  {mode} {kind}({E}) seed {seed}: {accs[-1]:.3f}{extra}", flush=True)
    print(f"{mode} {kind}({E}): mean {np.mean(accs):.3f} ({time.time() - t:.0f} s)", flush=True)
