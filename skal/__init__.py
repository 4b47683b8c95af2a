"""skal: scikit-learn-compatible active learning with calibrated uncertainty.

Sub-packages
------------
skal.models       probabilistic estimators (DPE, deep ensemble, MC dropout) and
                  the ``predict_proba_samples`` / ``embed`` adapters
skal.measures     acquisition measures on ``(S, n, K)`` probability arrays
skal.strategies   query strategies with modAL's contract
skal.learners     ``ActiveLearner`` and ``Committee`` (modAL's API)
skal.experiments  simulated labeling campaigns, AUBC, learning-curve plots
skal.session      ``LabelingSession``: a persistent, crash-safe campaign for annotators
skal.stopping     stopping criteria (stabilizing predictions, uncertainty, plateau)
"""

__version__ = "0.1.0"

# The learners pull in torch through the models; importing them lazily keeps
# ``import skal`` cheap for users who only want the measures.
_LAZY = {
    "ActiveLearner": "skal.learners",
    "Committee": "skal.learners",
    "LabelingSession": "skal.session",
}

__all__ = ["ActiveLearner", "Committee", "LabelingSession", "__version__"]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'skal' has no attribute {name!r}")
