"""Small estimators shared by the model tests."""

from skal.models import (
    BayesByBackpropClassifier,
    DeepEnsemble,
    DeepProbabilisticEnsemble,
    MCDropoutClassifier,
    SnapshotEnsemble,
)

#: The deep estimators, by the short names the parametrised tests use.
ESTIMATORS = {
    "dpe": DeepProbabilisticEnsemble,
    "deep_ensemble": DeepEnsemble,
    "mc_dropout": MCDropoutClassifier,
    "bayes_by_backprop": BayesByBackpropClassifier,
    "snapshot": SnapshotEnsemble,
}
_SIZE = {
    "dpe": {"n_estimators": 3},
    "deep_ensemble": {"n_estimators": 3},
    "mc_dropout": {"n_samples": 4},
    "bayes_by_backprop": {"n_samples": 4},
    # small minibatches: even one epoch of 60 rows has a training step per cycle
    "snapshot": {"n_estimators": 2, "batch_size": 16},
}


def make_estimator(name, **params):
    """A small, quick, seeded estimator; ``params`` override the defaults."""
    defaults = dict(max_epochs=3, device="cpu", random_state=0, **_SIZE[name])
    if "module" not in params:
        defaults["module__hidden_units"] = (16,)
    return ESTIMATORS[name](**{**defaults, **params})


def fit_on_path(ensemble, path, X, y):
    """Fit a DPE or deep ensemble with its members run on ``path`` of the stacked module.

    The path is chosen when the members are built; this builds them
    (without training), sets the path, then trains as ``fit`` would.
    """
    ensemble._initialize(X, y)
    ensemble.net_.module_.path = path
    return ensemble.partial_fit(X, y)
