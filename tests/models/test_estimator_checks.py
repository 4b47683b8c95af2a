"""scikit-learn's own estimator checks on the ensemble estimators."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skal.models import DeepEnsemble, DeepProbabilisticEnsemble

# Small and quick, yet enough epochs to pass check_classifiers_train's
# accuracy bar on its blobs.
SMALL = dict(
    n_estimators=2,
    max_epochs=30,
    lr=1e-2,
    batch_size=64,
    module__hidden_units=(16,),
    random_state=0,
    device="cpu",
)

# The only check that cannot apply. It builds the estimator with every name
# of the __init__ signature, including the literal `kwargs` of skorch's
# `module__*` pass-through, then calls set_params(kwargs=...): no such
# parameter exists, and set_params must reject unknown names (a typo in a
# GridSearchCV grid has to fail loudly).
EXPECTED_FAILED = {
    "check_do_not_raise_errors_in_init_or_set_params": (
        "**kwargs pass-through: set_params(kwargs=...) names no parameter and is rejected"
    )
}


@parametrize_with_checks(
    [DeepProbabilisticEnsemble(beta=1.0, **SMALL), DeepEnsemble(**SMALL)],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
