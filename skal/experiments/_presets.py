"""Named estimators for the ``skal`` command and config files."""

from __future__ import annotations

import numpy as np

__all__ = ["MODELS", "make_estimator"]

#: Model names accepted by :func:`make_estimator` (and ``skal run --model``).
MODELS = ("dpe", "deep-ensemble", "mc-dropout", "logistic", "random-forest")

# Networks read image arrays (n, 1, h, w); scikit-learn models flat rows.
NEURAL = ("dpe", "deep-ensemble", "mc-dropout")


def make_estimator(name, *, images=False, classes=None, device="auto", params=None):
    """Build an estimator by name, sized for the data it will see.

    Parameters
    ----------
    name : {"dpe", "deep-ensemble", "mc-dropout", "logistic", "random-forest"}
        ``dpe``: :class:`~skal.models.DeepProbabilisticEnsemble`;
        ``deep-ensemble``: :class:`~skal.models.DeepEnsemble`;
        ``mc-dropout``: :class:`~skal.models.MCDropoutClassifier`;
        ``logistic``: StandardScaler + LogisticRegression (S = 1);
        ``random-forest``: a RandomForestClassifier (its trees are the samples).
    images : bool, default=False
        The networks use :class:`~skal.models.GalCNN` on images and an
        :class:`~skal.models.MLP` (with dropout 0.5 for MC dropout) on flat rows.
    classes : array-like, default=None
        All labels, so a seed set that lacks some still sizes the output layer.
    device : str, default="auto"
        Torch device of the networks.
    params : dict, default=None
        Estimator parameters overriding the defaults (``max_epochs``,
        ``n_estimators``, ``module__hidden_units``, ``beta`` for the DPE, ...).

    Returns
    -------
    estimator : scikit-learn classifier (unfitted)

    Examples
    --------
    >>> from skal.experiments import make_estimator
    >>> make_estimator("random-forest", params={"n_estimators": 10})
    RandomForestClassifier(n_estimators=10)
    """
    params = dict(params or {})
    key = str(name).lower().replace("_", "-")
    if key not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}.")
    if key in NEURAL:
        from skal.models import (
            MLP,
            DeepEnsemble,
            DeepProbabilisticEnsemble,
            GalCNN,
            MCDropoutClassifier,
        )

        common = {"device": device}
        if classes is not None:
            common["classes"] = np.asarray(classes).tolist()
        # Training length is the estimators' own default: at least 1,000
        # gradient steps however small the labeled set (skal.models._base).
        if key == "mc-dropout":
            defaults = {"module": GalCNN if images else MLP, "n_samples": 20}
            cls = MCDropoutClassifier
        else:
            # GalCNN's dropout only matters for MC dropout; ensemble members
            # get their diversity from the prior draws, as in the DPE paper.
            defaults = {"module": GalCNN if images else MLP, "n_estimators": 8}
            if images:
                defaults["module__dropout"] = (0.0, 0.0)
            cls = DeepEnsemble if key == "deep-ensemble" else DeepProbabilisticEnsemble
        return cls(**{**defaults, **common, **params})
    if key == "logistic":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        clf_params = {"max_iter": 1000, **params}
        return make_pipeline(StandardScaler(), LogisticRegression(**clf_params))
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(**{"n_estimators": 100, **params})
