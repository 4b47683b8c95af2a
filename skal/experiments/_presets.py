"""Named estimators for the ``skal`` command and config files."""

from __future__ import annotations

import numpy as np

__all__ = ["LEARNERS", "MODELS", "MODULES", "LearnerFactory", "make_estimator", "make_learner"]

#: Model names accepted by :func:`make_estimator` (and ``skal run --model``).
MODELS = (
    "dpe",
    "deep-ensemble",
    "mc-dropout",
    "bayes-by-backprop",
    "snapshot-ensemble",
    "logistic",
    "random-forest",
)

# Networks read image arrays (n, 1, h, w); scikit-learn models flat rows.
NEURAL = ("dpe", "deep-ensemble", "mc-dropout", "bayes-by-backprop", "snapshot-ensemble")

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
    name : {"dpe", "deep-ensemble", "mc-dropout", "bayes-by-backprop", "snapshot-ensemble", \
"logistic", "random-forest"}
        ``dpe``: :class:`~skal.models.DeepProbabilisticEnsemble`;
        ``deep-ensemble``: :class:`~skal.models.DeepEnsemble`;
        ``mc-dropout``: :class:`~skal.models.MCDropoutClassifier`;
        ``bayes-by-backprop``: :class:`~skal.models.BayesByBackpropClassifier`
        (20 weight draws);
        ``snapshot-ensemble``: :class:`~skal.models.SnapshotEnsemble` (5 snapshots);
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
            BayesByBackpropClassifier,
            DeepEnsemble,
            DeepProbabilisticEnsemble,
            GalCNN,
            MCDropoutClassifier,
            SnapshotEnsemble,
        )

        common = {"device": device}
        if classes is not None:
            common["classes"] = np.asarray(classes).tolist()
        # Training length is the estimators' own default: at least 1,000
        # gradient steps however small the labeled set (skal.models._base).
        if key == "mc-dropout":
            defaults = {"module": GalCNN if images else MLP, "n_samples": 20}
            cls = MCDropoutClassifier
        elif key in ("bayes-by-backprop", "snapshot-ensemble"):
            # the weight posterior (or the snapshots) gives the spread, not dropout
            defaults = {"module": GalCNN if images else MLP}
            if images:
                defaults["module__dropout"] = (0.0, 0.0)
            if key == "bayes-by-backprop":
                defaults["n_samples"] = 20
                cls = BayesByBackpropClassifier
            else:
                defaults["n_estimators"] = 5
                cls = SnapshotEnsemble
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


#: Learner names accepted by :func:`make_learner` (and ``skal run --learner``).
LEARNERS = ("active", "ceal", "bgadl", "svp")

# The parameters each learner takes from a command line or config file;
# ``generator__*`` and ``proxy__*`` configure the model the learner builds.
_LEARNER_PARAMS = {
    "active": (),
    "ceal": ("delta", "delta_decay"),
    "bgadl": ("generator__",),
    "svp": ("proxy", "proxy__", "rank_measure"),
}


class LearnerFactory:
    """A learner class with fixed keyword parameters, called as the harness calls a factory.

    ``factory(estimator=..., query_strategy=..., random_state=...)`` builds
    ``cls(estimator, query_strategy, random_state=random_state, **params)``.
    Its ``repr`` names the class and the parameters, and it has
    ``get_params``, so a run log's header pins them: a resumed run with
    other learner parameters is refused like one with another estimator.

    Parameters
    ----------
    cls : type
        A learner class such as :class:`skal.learners.CEAL`.
    **params
        Its keyword parameters.

    Examples
    --------
    >>> from skal.experiments import LearnerFactory
    >>> from skal.learners import CEAL
    >>> LearnerFactory(CEAL, delta=0.1)
    CEAL(delta=0.1)
    """

    def __init__(self, cls, **params):
        self.cls = cls
        self.params = params

    def __call__(self, estimator, query_strategy=None, random_state=None):
        return self.cls(estimator, query_strategy, random_state=random_state, **self.params)

    def get_params(self, deep=False):
        return dict(self.params)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in sorted(self.params.items()))
        return f"{self.cls.__name__}({args})"


def _nested(params, prefix):
    return {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}


def make_learner(name, *, images=False, classes=None, device="auto", params=None):
    """Build the learner factory of ``run_experiment(learner=...)`` by name.

    Parameters
    ----------
    name : {"active", "ceal", "bgadl", "svp"}
        ``active``: :class:`~skal.ActiveLearner` (returns None, the
        harness's default); ``ceal``: :class:`~skal.learners.CEAL`
        (``delta``, ``delta_decay``); ``bgadl``:
        :class:`~skal.learners.BGADL`, its
        :class:`~skal.models.VAEACGAN` set by ``generator__<parameter>``;
        ``svp``: :class:`~skal.learners.SelectionViaProxy` whose proxy is
        the model named ``proxy`` (default ``"logistic"``, any name of
        :data:`MODELS`) with ``proxy__<parameter>`` estimator parameters,
        and ``rank_measure``.
    images : bool, default=False
        Whether the data are images (sizes the proxy's network).
    classes : array-like, default=None
        All labels (sizes the proxy's output layer).
    device : str, default="auto"
        Torch device of the generator or the proxy.
    params : dict, default=None
        The learner's parameters, as above.

    Returns
    -------
    factory : LearnerFactory or None

    Examples
    --------
    >>> from skal.experiments import make_learner
    >>> make_learner("ceal", params={"delta": 0.1})
    CEAL(delta=0.1)
    >>> make_learner("svp", params={"proxy": "random-forest", "proxy__n_estimators": 10})
    SelectionViaProxy(proxy=RandomForestClassifier(n_estimators=10))
    """
    params = dict(params or {})
    key = str(name).lower().replace("_", "-")
    if key not in LEARNERS:
        raise ValueError(f"unknown learner {name!r}; choose one of {', '.join(LEARNERS)}.")
    allowed = _LEARNER_PARAMS[key]
    unknown = sorted(k for k in params if not any(k == a or (a.endswith("__") and k.startswith(a)) for a in allowed))
    if unknown:
        accepted = ", ".join(a + "<parameter>" if a.endswith("__") else a for a in allowed) or "none"
        raise ValueError(
            f"learner {key!r} takes no parameter {', '.join(unknown)}; it accepts: {accepted}."
        )
    if key == "active":
        return None
    from skal.learners import BGADL, CEAL, SelectionViaProxy

    if key == "ceal":
        return LearnerFactory(CEAL, **params)
    if key == "bgadl":
        from skal.models import VAEACGAN

        return LearnerFactory(BGADL, generator=VAEACGAN(**{"device": device, **_nested(params, "generator__")}))
    proxy = make_estimator(
        params.pop("proxy", "logistic"), images=images, classes=classes, device=device,
        params=_nested(params, "proxy__"),
    )
    extra = {k: v for k, v in params.items() if not k.startswith("proxy__")}
    return LearnerFactory(SelectionViaProxy, proxy=proxy, **extra)
