"""Small estimators shared by the model tests."""

from skal.models import DeepEnsemble, DeepProbabilisticEnsemble, MCDropoutClassifier

#: The deep estimators, by the short names the parametrised tests use.
ESTIMATORS = {
    "dpe": DeepProbabilisticEnsemble,
    "deep_ensemble": DeepEnsemble,
    "mc_dropout": MCDropoutClassifier,
}
_SIZE = {"dpe": {"n_estimators": 3}, "deep_ensemble": {"n_estimators": 3}, "mc_dropout": {"n_samples": 4}}


def make_estimator(name, **params):
    """A small, quick, seeded estimator; ``params`` override the defaults."""
    defaults = dict(max_epochs=3, device="cpu", random_state=0, **_SIZE[name])
    if "module" not in params:
        defaults["module__hidden_units"] = (16,)
    return ESTIMATORS[name](**{**defaults, **params})
