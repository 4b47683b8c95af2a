"""Named estimators for the ``skal`` command and config files."""

from __future__ import annotations

import numpy as np

__all__ = ["MODELS", "MODULES", "make_estimator"]

#: Model names accepted by :func:`make_estimator` (and ``skal run --model``).
MODELS = ("dpe", "deep-ensemble", "mc-dropout", "logistic", "random-forest")

# Networks read image arrays (n, 1, h, w); scikit-learn models flat rows.
NEURAL = ("dpe", "deep-ensemble", "mc-dropout")

#: Reference modules by the names ``params={"module": ...}`` (a config's
#: ``model_params.module``) may give, resolved in :func:`make_estimator`.
MODULES = {
    "mlp": "MLP",
    "gal-cnn": "GalCNN",
    "small-cnn": "SmallCNN",
    "small-resnet": "SmallResNet",
    "small-unet": "SmallUNet",
    "backbone-unet": "BackboneUNet",
}


def _module_by_name(name):
    import skal.models

    key = str(name).lower().replace("_", "-")
    if key not in MODULES:
        raise ValueError(f"unknown module {name!r}; choose one of {', '.join(MODULES)}.")
    return getattr(skal.models, MODULES[key])


def make_estimator(name, *, images=False, classes=None, device="auto", params=None,
                   segmentation=False, tabular_to_image=None):
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
    segmentation : bool, default=False
        The labels are maps ``(n, h, w)``: the networks use
        :class:`~skal.models.SmallUNet` (with channel dropout 0.5 for MC
        dropout); scikit-learn models cannot segment.
    tabular_to_image : bool, dict or None, default=None
        True or a dict of its parameters: the model is a Pipeline of
        :class:`~skal.preprocessing.TabularToImage` and the network, whose
        module is :class:`~skal.models.SmallCNN` (dropout 0.5 for MC
        dropout) on the layout's images.
    classes : array-like, default=None
        All labels, so a seed set that lacks some still sizes the output layer.
    device : str, default="auto"
        Torch device of the networks.
    params : dict, default=None
        Estimator parameters overriding the defaults (``max_epochs``,
        ``n_estimators``, ``module__hidden_units``, ``beta`` for the DPE, ...).
        ``module`` may name a reference module (:data:`MODULES`, e.g.
        ``"backbone-unet"``).

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
    if isinstance(params.get("module"), str):
        params["module"] = _module_by_name(params["module"])
    if (segmentation or tabular_to_image) and key not in NEURAL:
        what = "segment label maps" if segmentation else "read TabularToImage's images"
        raise ValueError(f"model {name!r} cannot {what}; use one of {', '.join(NEURAL)}.")
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
        # -- segmentation and tabular-as-image networks ----------------------
        if segmentation or tabular_to_image:
            from skal.models import SmallCNN, SmallUNet

            defaults.pop("module__dropout", None)
            defaults["module"] = SmallUNet if segmentation else SmallCNN
            if key == "mc-dropout":
                defaults["module__dropout"] = 0.5
        net = cls(**{**defaults, **common, **params})
        if tabular_to_image:
            from sklearn.pipeline import make_pipeline

            from skal.preprocessing import TabularToImage

            layout = {} if tabular_to_image is True else dict(tabular_to_image)
            return make_pipeline(TabularToImage(**layout), net)
        # ----------------------------------------------------------------------
        return net
    if key == "logistic":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        clf_params = {"max_iter": 1000, **params}
        return make_pipeline(StandardScaler(), LogisticRegression(**clf_params))
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(**{"n_estimators": 100, **params})
