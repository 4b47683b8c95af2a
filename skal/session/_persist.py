"""Estimators and fitted models as data: JSON specs and NumPy archives, never pickles.

A session file may come from someone else (a colleague's campaign, a
download). Nothing read from it is unpickled:

* the estimator is stored as its class path and ``get_params`` in JSON
  (:func:`estimator_spec`); it is rebuilt only from classes of the trusted
  packages (scikit-learn and skal by default) that are scikit-learn
  estimators (:func:`build_estimator`). An estimator whose parameters are
  not plain data (a torch module class, a callable) is not stored: the
  user passes it again to ``LabelingSession.open``.
* a fitted model's parameters are stored, when they are plain arrays and
  numbers (linear models, scalers, naive Bayes, Pipelines of them), as an
  ``.npz`` archive read back with ``allow_pickle=False``; a skorch net's as
  the bytes of ``save_params`` (a state dict that ``load_params`` reads
  with ``torch.load(weights_only=True)``). Other models store nothing and
  are refitted from the labeled set (:func:`dump_fitted` returns None).
"""

from __future__ import annotations

import importlib
import io
import json
import math

import numpy as np
from sklearn.base import BaseEstimator, clone

__all__ = [
    "TRUSTED_MODULES",
    "build_estimator",
    "dump_fitted",
    "estimator_spec",
    "load_fitted",
]

#: Packages whose estimator classes a session file may name and have rebuilt.
TRUSTED_MODULES = ("sklearn", "skal")


class Unencodable(TypeError):
    """A parameter that is not plain data (so the estimator is not stored)."""


def _is_estimator(value):
    return hasattr(value, "get_params") and not isinstance(value, type)


def _class_path(obj):
    cls = type(obj)
    return f"{cls.__module__}:{cls.__qualname__}"


def _encode(value):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise Unencodable("a dict parameter with keys that are not strings")
        return {"__dict__": {k: _encode(v) for k, v in value.items()}}
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf" and value.size <= 10_000:
        return {"__array__": value.tolist(), "dtype": value.dtype.str}
    if _is_estimator(value):
        return {"__estimator__": estimator_spec(value, strict=True)}
    raise Unencodable(f"a parameter of type {type(value).__name__}")


def estimator_spec(estimator, *, strict=False):
    """``{"class": "module:Name", "params": {...}}`` in JSON, or None when not plain data.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skal.session._persist import estimator_spec
    >>> estimator_spec(LogisticRegression(C=0.5))["params"]["C"]
    0.5
    """
    try:
        params = estimator.get_params(deep=False)
        spec = {
            "class": _class_path(estimator),
            "params": {k: _encode(v) for k, v in sorted(params.items())},
        }
        json.dumps(spec)
        return spec
    except Unencodable:
        if strict:
            raise
        return None


def _trusted(module, trusted):
    return any(module == t or module.startswith(t + ".") for t in trusted)


def _decode(value, trusted):
    if isinstance(value, list):
        return [_decode(v, trusted) for v in value]
    if isinstance(value, dict):
        if "__tuple__" in value:
            return tuple(_decode(v, trusted) for v in value["__tuple__"])
        if "__dict__" in value:
            return {k: _decode(v, trusted) for k, v in value["__dict__"].items()}
        if "__float__" in value:
            return float(value["__float__"])
        if "__array__" in value:
            return np.asarray(value["__array__"], dtype=np.dtype(value["dtype"]))
        if "__estimator__" in value:
            return build_estimator(value["__estimator__"], trusted_modules=trusted)
        raise ValueError(f"unreadable parameter {value!r} in the session's estimator.")
    return value


def build_estimator(spec, *, trusted_modules=TRUSTED_MODULES):
    """Rebuild an estimator from :func:`estimator_spec`'s output, from trusted classes only.

    The class must live in one of ``trusted_modules`` and be a scikit-learn
    ``BaseEstimator``: a session file cannot make skal import or call
    anything else.
    """
    path = spec.get("class", "") if isinstance(spec, dict) else ""
    module, _, name = path.partition(":")
    if not module or not name or not _trusted(module, trusted_modules):
        raise ValueError(
            f"the session's estimator is {path!r}, which is not a class of a trusted package "
            f"({', '.join(trusted_modules)}): pass the estimator again, "
            "LabelingSession.open(database, estimator=...)."
        )
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, BaseEstimator)):
        raise ValueError(f"{path!r} is not a scikit-learn estimator class.")
    params = {k: _decode(v, trusted_modules) for k, v in spec.get("params", {}).items()}
    return obj(**params)


# -- fitted parameters --------------------------------------------------------


def _sub_estimators(estimator):
    """``(key, sub_estimator)`` for the estimators among the parameters (Pipeline steps too)."""
    for key, value in estimator.get_params(deep=False).items():
        if _is_estimator(value):
            yield key, value
        elif isinstance(value, list) and all(
            isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) for v in value
        ):
            for name, sub in value:
                if _is_estimator(sub):
                    yield f"{key}.{name}", sub


def _is_skorch_net(estimator):
    return (
        hasattr(estimator, "save_params") and hasattr(estimator, "load_params")
        and hasattr(estimator, "initialize") and getattr(estimator, "initialized_", False)
    )


def _collect(estimator, prefix, arrays, meta):
    """Fill ``arrays`` / ``meta`` with the fitted state of ``estimator``; raise Unencodable."""
    if _is_skorch_net(estimator):
        kwargs = getattr(estimator, "torch_load_kwargs", None)
        if kwargs not in (None, {}) and kwargs.get("weights_only") is not True:
            raise Unencodable("a skorch net that loads its parameters with weights_only=False")
        buffer = io.BytesIO()
        estimator.save_params(f_params=buffer)
        arrays[f"{prefix}#skorch_params"] = np.frombuffer(buffer.getvalue(), dtype=np.uint8)
        meta[f"{prefix}#skorch"] = True
        fitted = {k: v for k, v in vars(estimator).items() if k == "classes_inferred_"}
    else:
        unfitted = set(vars(clone(estimator)))
        fitted = {k: v for k, v in vars(estimator).items() if k not in unfitted}
    for name, value in fitted.items():
        key = f"{prefix}#{name}"
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                if not all(isinstance(v, str) for v in value.ravel().tolist()):
                    raise Unencodable(f"fitted attribute {name} holds objects")
                arrays[key] = value.astype(str)
                meta[key] = "object_str"
            elif value.dtype.kind in "biufcU":
                arrays[key] = value
                meta[key] = "array"
            else:
                raise Unencodable(f"fitted attribute {name} of dtype {value.dtype}")
        elif value is None or isinstance(value, (bool, str, int, float, np.generic)):
            if isinstance(value, np.generic):
                arrays[key] = np.asarray(value)
                meta[key] = "scalar"
            else:
                meta[key] = {"value": value}
        else:
            raise Unencodable(f"fitted attribute {name} of type {type(value).__name__}")
    for key, sub in _sub_estimators(estimator):
        _collect(sub, f"{prefix}/{key}", arrays, meta)


def dump_fitted(estimator):
    """The fitted parameters of ``estimator`` as ``.npz`` bytes, or None when they are not plain data.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skal.session._persist import dump_fitted, load_fitted
    >>> model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    >>> blob = dump_fitted(model)
    >>> load_fitted(LogisticRegression(), blob).predict([[0.9]])
    array([1])
    """
    arrays, meta = {}, {}
    try:
        _collect(estimator, "", arrays, meta)
    except Unencodable:
        return None
    buffer = io.BytesIO()
    np.savez(buffer, __meta__=np.asarray(json.dumps(meta)), **arrays)
    return buffer.getvalue()


def _restore(estimator, prefix, archive, meta):
    if meta.get(f"{prefix}#skorch"):
        estimator.initialize()
        params = archive[f"{prefix}#skorch_params"].tobytes()
        estimator.load_params(f_params=io.BytesIO(params))
    for key, kind in meta.items():
        owner, _, name = key.rpartition("#")
        if owner != prefix or name in ("skorch", "skorch_params"):
            continue
        if kind == "array":
            value = archive[key]
        elif kind == "object_str":
            value = archive[key].astype(object)
        elif kind == "scalar":
            value = archive[key][()]
        else:
            value = kind["value"]
        setattr(estimator, name, value)
    for key, sub in _sub_estimators(estimator):
        _restore(sub, f"{prefix}/{key}", archive, meta)


def load_fitted(estimator, blob):
    """Set the parameters :func:`dump_fitted` stored on ``estimator`` (unfitted, same params).

    The archive is read with ``allow_pickle=False`` and a skorch net's
    state dict with ``torch.load(weights_only=True)``: nothing is unpickled.
    """
    with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
        meta = json.loads(str(archive["__meta__"][()]))
        arrays = {k: archive[k] for k in archive.files}
    _restore(estimator, "", arrays, meta)
    return estimator
