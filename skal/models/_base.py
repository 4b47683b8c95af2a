"""What skal's deep estimators share: one private base class, its parameters and their docs.

:class:`_BaseDeepClassifier` holds, once for
:class:`~skal.models.DeepProbabilisticEnsemble`,
:class:`~skal.models.DeepEnsemble` and
:class:`~skal.models.MCDropoutClassifier`: the shared constructor
parameters and their validation, the training settings and their defaults
(:data:`TRAINING_DEFAULTS`), building the module from the data, label
encoding, the ``fit``/``partial_fit``/``warm_start`` flow, seeding and
Ctrl-C. Each estimator *owns* the skorch net it trains, in ``net_``, and
builds it in its ``_build_net`` method; the nets override public skorch
hooks only (``get_loss``, ``get_split_datasets``, ``predict_proba``,
``iterator_train``).
"""

from __future__ import annotations

import copy
import inspect
import math
import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data
from skorch import NeuralNet
from torch import nn
from torch.utils.data import DataLoader, default_collate

from .._interrupt import propagate_interrupt
from .._validation import check_scalar
from ..metrics import mean_iou
from ._label_maps import check_label_maps, flat_labels, is_label_maps
from ._modules import MLP

__all__ = [
    "TRAINING_DEFAULTS",
    "default_epochs",
    "PARAMETER_DOCS",
    "EvenBatchLoader",
    "check_logits",
    "class_softmax",
    "collate_rows",
    "encode_labels",
    "even_batch_size",
    "first_fit_classes",
    "isolated_rng",
    "resolve_device",
    "rows_as_tensor",
    "validate_X",
]

#: The one source of the training settings' defaults. A setting left to
#: ``None`` takes the value of a skorch net given as ``module`` (a
#: template), else the value here. With ``max_epochs=None`` a fit runs
#: ``max_epochs`` epochs, or more when that is fewer than ``min_steps``
#: gradient steps: on 20 labels, 100 epochs of batch 128 are 100 steps,
#: and the measured accuracy gains from 100 to 1,000 steps are 4 to 5
#: points on digits and MNIST (docs: "Does it beat random?"). The
#: optimizer's ``weight_decay`` (L2) keeps the longer training from
#: over-fitting the tiny sets.
TRAINING_DEFAULTS = {
    "max_epochs": 100,
    "min_steps": 1000,
    "lr": 1e-3,
    "batch_size": 128,
    "optimizer": torch.optim.Adam,
    "optimizer__weight_decay": 1e-3,
}
#: The defaults that are constructor parameters of the estimators.
_SETTINGS = ("max_epochs", "lr", "batch_size", "optimizer")


def default_epochs(n_rows, batch_size):
    """Epochs of a fit left to ``max_epochs=None``: at least ``min_steps`` gradient steps.

    Examples
    --------
    >>> from skal.models._base import default_epochs
    >>> default_epochs(20, 128)  # one step per epoch: 1,000 epochs
    1000
    >>> default_epochs(50_000, 128)  # 391 steps per epoch: the 100 epochs suffice
    100
    """
    steps_per_epoch = math.ceil(n_rows / batch_size)
    return max(TRAINING_DEFAULTS["max_epochs"], math.ceil(TRAINING_DEFAULTS["min_steps"] / steps_per_epoch))

SEED_MAX = np.iinfo(np.int32).max

_EPOCHS_HINT = (
    "A fit of 0 epochs leaves the network untrained, its predictions those of random "
    "weights: set max_epochs >= 1, or None for the default (at least 1,000 gradient steps)."
)

#: numpydoc entries of the parameters the deep estimators share, filled into
#: each class's docstring by :func:`skal._docstrings.fill_sections`.
PARAMETER_DOCS = {
    "module": """\
module : None, torch.nn.Module class or instance, or skorch NeuralNet, default=None
    The network; it must return logits. ``None`` is an
    :class:`~skal.models.MLP` sized from the data. A class is instantiated
    with the ``module__*`` parameters, ``n_features`` (values per sample)
    and ``n_classes`` being filled from the data when its constructor takes
    them. An instance is copied (the caller's module is never trained). A
    skorch net is a template: its module and ``module__*`` parameters are
    used, and its ``optimizer`` (with its ``optimizer__*`` parameters),
    ``lr``, ``max_epochs`` and ``batch_size`` where those are left to
    ``None`` here.""",
    "max_epochs": """\
max_epochs : int, default=None
    Epochs per call to ``fit`` or ``partial_fit``, at least 1 (0 would
    leave the network as initialised). ``None`` trains 100 epochs, or
    more when the training set is small: at least 1,000 gradient steps
    (``TRAINING_DEFAULTS``), so that 20 labels get as much training as
    2,000. Set it to train exactly that many epochs.""",
    "lr": """\
lr : float, default=None
    Learning rate; ``None`` is ``TRAINING_DEFAULTS["lr"]`` (1e-3).""",
    "optimizer": """\
optimizer : torch optimizer class, default=None
    ``None`` is ``TRAINING_DEFAULTS["optimizer"]`` (``torch.optim.Adam``).
    An optimizer that takes ``weight_decay`` gets 1e-3 unless
    ``optimizer__weight_decay`` says otherwise.""",
    "batch_size": """\
batch_size : int, default=None
    Minibatch size of training and prediction; ``None`` is
    ``TRAINING_DEFAULTS["batch_size"]`` (128). An epoch never ends on a
    minibatch of one row (BatchNorm cannot train on it): when it would,
    the minibatches of that epoch are made near-equal instead.""",
    "train_split": """\
train_split : None or callable, default=None
    skorch's validation split, e.g. ``skorch.dataset.ValidSplit(5)``;
    ``None`` trains on all the data, which suits the small labeled sets of
    active learning. With a split, ``net_.history`` records ``valid_loss``
    and ``valid_acc``.""",
    "callbacks": """\
callbacks : list of skorch callbacks, default=None
    Extra callbacks of the skorch training loop, used as given (as skorch
    does), so that one recording training dynamics can be read after fit.""",
    "classes": """\
classes : array-like, default=None
    All labels the model will ever see. Active learning often starts from
    a seed set that misses some classes: declaring them here sizes the
    output layer for all of them and lets ``warm_start`` go on when a new
    one is labeled.""",
    "device": """\
device : str or torch.device, default='auto'
    Torch device: ``'cpu'``, ``'cuda'``, ``'cuda:<index>'``, ``'mps'`` or
    ``'xpu'``; ``'auto'`` is CUDA when present, else CPU. A device this
    machine lacks is a ValueError at fit.""",
    "random_state": """\
random_state : int, RandomState instance or None, default=None
    Seeds the initial weights, the minibatch order and the training
    dropout masks, through a forked torch RNG: the global torch RNG is left
    untouched.""",
    "warm_start": """\
warm_start : bool, default=False
    ``fit`` continues from the current weights instead of re-initialising
    them. ``max_epochs``, ``lr``, ``batch_size`` and ``verbose`` changed
    with ``set_params`` apply to the next fit; the module, optimizer,
    ``train_split`` and ``callbacks`` are read when the network is
    (re)initialised.""",
    "verbose": """\
verbose : int, default=0
    skorch's epoch log when > 0.""",
    "kwargs": """\
**kwargs
    Passed through to the skorch net, under skorch's names:
    ``module__*``, ``optimizer__*``, ``iterator_train__*``,
    ``iterator_valid__*``, ``callbacks__*``. Training minibatches are
    shuffled unless ``iterator_train__shuffle=False``.""",
}

#: Device types a deep estimator can train on. For each but the CPU: the
#: torch call that tells whether this machine has one (its name, then the
#: call itself) and, when it has none, what to do about it.
_DEVICE_TYPES = {
    "cpu": None,
    "cuda": (
        "torch.cuda.is_available()",
        lambda: torch.cuda.is_available(),
        lambda: (
            "install a CUDA build of torch on a machine with an NVIDIA GPU"
            if torch.version.cuda is None
            # a CUDA build that sees no GPU: the driver, or CUDA_VISIBLE_DEVICES
            else f"run where this CUDA {torch.version.cuda} build of torch sees a GPU "
            "(check the NVIDIA driver and CUDA_VISIBLE_DEVICES)"
        ),
    ),
    "mps": (
        "torch.backends.mps.is_available()",
        lambda: torch.backends.mps.is_available(),
        lambda: "run on a Mac with Apple silicon",
    ),
    "xpu": (
        "torch.xpu.is_available()",
        lambda: hasattr(torch, "xpu") and torch.xpu.is_available(),
        lambda: "install an XPU build of torch on a machine with an Intel GPU",
    ),
}
_DEVICE_CHOICES = "'auto', 'cpu', 'cuda', 'cuda:<index>', 'mps' or 'xpu'"


def resolve_device(device):
    """The device a fit runs on: ``'auto'`` (or ``None``) resolved, any other checked.

    ``'auto'`` becomes ``'cuda'`` when a GPU is present, else ``'cpu'``.
    Any other device is returned as given once it is known to be usable
    here, so that a typo or a missing GPU is a ValueError naming ``device``
    at the start of fit rather than a torch error from deep inside it
    (often after the network was built, or a first epoch ran elsewhere).

    Parameters
    ----------
    device : str, torch.device or None

    Returns
    -------
    device : str or torch.device

    Raises
    ------
    ValueError
        ``device`` is no CPU, CUDA, MPS or XPU device, or this machine
        has no such device.

    Examples
    --------
    >>> from skal.models._base import resolve_device
    >>> resolve_device("cpu")
    'cpu'
    >>> resolve_device("tpu")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: device='tpu' is not a device skal can train on: use 'auto', 'cpu', 'cuda', ...
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.type not in _DEVICE_TYPES:
        raise ValueError(
            f"device={device!r} is not a device skal can train on: use {_DEVICE_CHOICES}."
        )
    if _DEVICE_TYPES[parsed.type] is not None:
        call, available, install = _DEVICE_TYPES[parsed.type]
        if not available():
            raise ValueError(
                f"device={device!r} but {call} is False on this machine (torch "
                f"{torch.__version__}): use device='cpu' (or 'auto', which takes a GPU "
                f"when there is one), or {install()}."
            )
    n_gpus = torch.cuda.device_count() if parsed.type == "cuda" else 0
    if parsed.type == "cuda" and parsed.index is not None and parsed.index >= n_gpus:
        raise ValueError(
            f"device={device!r} but this machine has {n_gpus} CUDA device(s), numbered "
            f"from 0: use device='cuda' or an index below {n_gpus}."
        )
    return device


def isolated_rng(device):
    """Fork torch's RNG, so that seeding a fit or a prediction leaves the global state alone.

    Even prediction draws from it: every DataLoader iterator takes a base
    seed from the global generator.
    """
    devices = [torch.device(device)] if torch.device(device).type == "cuda" else []
    return torch.random.fork_rng(devices=devices)


def validate_X(estimator, X, y="no_validation", *, reset):
    """float32 samples of any shape; at predict time the per-sample shape must match fit's.

    ``n_features_in_`` (scikit-learn's check) only sees the second axis; for
    images the whole per-sample shape is stored as ``input_shape_``. With
    ``y`` given, returns ``(X, y)`` checked together, as ``validate_data`` does;
    the shape of one target is stored as ``target_shape_``: ``()`` for
    labels, ``(H, W)`` for label maps (segmentation, see ``_label_maps.py``).
    """
    has_y = not (isinstance(y, str) and y == "no_validation")
    # -- segmentation: label maps (n, H, W) are checked apart from X ----------
    if has_y and is_label_maps(y):
        X = validate_X(estimator, X, reset=reset)
        return X, check_label_maps(estimator, y, len(X), reset=reset)
    # -------------------------------------------------------------------------
    out = validate_data(
        estimator, X, y, reset=reset, dtype=np.float32, allow_nd=True, ensure_min_features=1
    )
    X = out[0] if has_y else out
    if reset:
        estimator.input_shape_ = X.shape[1:]
        if has_y:
            estimator.target_shape_ = ()
    elif X.shape[1:] != estimator.input_shape_:
        raise ValueError(
            f"X has samples of shape {X.shape[1:]}, but {type(estimator).__name__} was "
            f"fitted on samples of shape {estimator.input_shape_}."
        )
    return out


def rows_as_tensor(rows, device=None):
    """A tensor of a chunk of rows, without torch's warning on read-only arrays.

    joblib hands parallel workers read-only memory-mapped arrays; torch
    warns when it wraps one. Such a chunk is copied (the chunk, never the
    whole array); a writable one is shared, as ``torch.as_tensor`` does.
    """
    rows = np.asarray(rows)
    if not rows.flags.writeable:
        rows = rows.copy()
    return torch.as_tensor(rows, device=device)


def _writable(item):
    if isinstance(item, np.ndarray) and not item.flags.writeable:
        return item.copy()
    if isinstance(item, (tuple, list)):
        return type(item)(_writable(i) for i in item)
    return item


def collate_rows(batch):
    """skorch's minibatches, read-only rows included (see :func:`rows_as_tensor`).

    ``default_collate`` wraps each NumPy row with ``torch.as_tensor``; a row
    of a read-only memmap is copied first: one minibatch at a time.
    """
    return default_collate([_writable(sample) for sample in batch])


def first_fit_classes(y, declared=None):
    """The labels a first fit sizes the network for: ``declared``, else those in ``y``.

    Examples
    --------
    >>> from skal.models._base import first_fit_classes
    >>> first_fit_classes(["b", "a", "b"])
    array(['a', 'b'], dtype='<U1')
    """
    check_classification_targets(flat_labels(y))
    labels = np.unique(y) if declared is None else np.unique(np.asarray(declared))
    if len(labels) < 2:
        raise ValueError(
            f"y contains 1 class only ({labels[0]!r}): a classifier needs samples of at "
            "least 2 classes; label samples of another class, or declare all labels "
            "with classes=..."
        )
    return labels


def encode_labels(y, classes):
    """Codes ``0..K-1`` of ``y`` under the sorted ``classes``.

    Examples
    --------
    >>> import numpy as np
    >>> from skal.models._base import encode_labels
    >>> encode_labels(np.array(["b", "a"]), np.array(["a", "b", "c"]))
    array([1, 0])
    """
    y = np.asarray(y)
    unseen = ~np.isin(y, classes)
    if unseen.any():
        raise ValueError(
            f"y contains labels {np.unique(y[unseen]).tolist()} not in classes_ "
            f"{np.asarray(classes).tolist()}: they were not declared at the first fit; "
            "declare every label up front with classes=..., or refit from scratch."
        )
    return np.searchsorted(classes, y).astype(np.int64)


def check_logits(out, n_classes, target_shape=()):
    """The module must return ``(n_samples, n_classes)`` logits, ``(n_samples, n_classes, H, W)`` for maps."""
    if isinstance(out, tuple):
        out = out[0]
    if target_shape:  # label maps: logits per pixel
        if tuple(out.shape[1:]) != (n_classes, *target_shape):
            raise ValueError(
                f"module outputs shape {tuple(out.shape[1:])} per sample but y holds label maps "
                f"of shape {tuple(target_shape)} with {n_classes} classes: a segmentation "
                f"module must return (n_samples, {n_classes}, {', '.join(map(str, target_shape))}) "
                f"logits (e.g. skal.models.SmallUNet; module__n_classes={n_classes})."
            )
        return
    if out.dim() != 2 or out.shape[1] != n_classes:
        raise ValueError(
            f"module outputs shape {tuple(out.shape[1:])} per sample but there are "
            f"{n_classes} classes: the module must return (n_samples, {n_classes}) logits "
            f"(for a module class, e.g. module__n_classes={n_classes})."
        )


def class_softmax(logits):
    """Softmax over the class axis (1) of ``(n, K)`` or per-pixel ``(n, K, H, W)`` logits.

    skorch's default for a cross-entropy net takes the last axis, which for
    logit maps is the image width.
    """
    return torch.softmax(logits, dim=1)


def even_batch_size(n_rows, batch_size):
    """A batch size that never leaves a last minibatch of one row.

    ``batch_size`` itself unless ``n_rows`` would end on a single row; then
    the smallest size that splits the rows into as many (or, if that is
    impossible, fewer) near-equal minibatches.

    Examples
    --------
    >>> from skal.models._base import even_batch_size
    >>> even_batch_size(129, 128)  # 65 + 64 instead of 128 + 1
    65
    >>> even_batch_size(300, 128)
    128
    """
    if batch_size is None or n_rows <= batch_size or n_rows % batch_size != 1:
        return batch_size
    for n_batches in range(math.ceil(n_rows / batch_size), 0, -1):
        size = math.ceil(n_rows / n_batches)
        if n_rows % size != 1:
            return size
    return n_rows  # pragma: no cover (n_batches = 1 always returns)


class EvenBatchLoader(DataLoader):
    """skorch's training iterator, whose epochs never end on a minibatch of one row.

    BatchNorm cannot normalise a single row in training mode, so 129 rows
    in batches of 128 would crash a network with BatchNorm. The batch size
    is adjusted by :func:`even_batch_size` for such a dataset only.
    """

    def __init__(self, dataset, batch_size=1, **kwargs):
        super().__init__(dataset, batch_size=even_batch_size(len(dataset), batch_size), **kwargs)


def _reset_parameters(module):
    for sub in module.modules():
        if hasattr(sub, "reset_parameters"):
            sub.reset_parameters()


class _BaseDeepClassifier(ClassifierMixin, BaseEstimator):
    """Base of skal's deep classifiers: one fit flow around a skorch net in ``net_``.

    Subclasses declare their parameters in ``__init__``, whose body is
    ``self._store(locals())``. They implement ``_build_net(X, n_classes,
    device, seed)``, which returns the initialised skorch net to train on
    label codes ``0..K-1``, and ``predict_proba_samples``; they may extend
    ``_check_params``, ``_check_module``, ``_sync_net`` (settings applied
    before a warm fit) and ``_after_training``.

    Warning: this class should not be used directly. Use derived classes
    instead.
    """

    #: Prefixes of the ``**kwargs`` passed through to the skorch net.
    _passthrough_prefixes = (
        "module__",
        "optimizer__",
        "iterator_train__",
        "iterator_valid__",
        "callbacks__",
    )
    #: Default constructor parameters of :class:`~skal.models.MLP`.
    _mlp_params = {}

    def _store(self, arguments):
        """Store the constructor's arguments, ``locals()`` of a subclass's ``__init__``.

        Named parameters become attributes, as scikit-learn requires. The
        ``**kwargs`` go to one private dict (reported by ``get_params``)
        rather than to attributes, so that they cannot clash with fitted
        state; names that are no pass-through parameter are kept too and
        rejected at fit, so that ``clone`` reproduces exactly what was given.
        """
        for name, value in arguments.items():
            if name not in ("self", "kwargs", "__class__"):
                setattr(self, name, value)
        self._kwargs = dict(arguments["kwargs"])

    # -- parameters -----------------------------------------------------------
    def get_params(self, deep=True):
        # `module` may be a skorch net, whose own parameters would otherwise
        # be spliced in under our `module__` prefix.
        params = super().get_params(deep=False)
        params.update(self._kwargs)
        return params

    def set_params(self, **params):
        own = set(self._get_param_names())
        for key in list(params):
            if key not in own and (key in self._kwargs or key.startswith(self._passthrough_prefixes)):
                self._kwargs[key] = params.pop(key)
        return super().set_params(**params) if params else self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags

    def _check_params(self):
        for key in self._kwargs:
            if not key.startswith(self._passthrough_prefixes):
                raise TypeError(
                    f"{type(self).__name__} got an unexpected keyword argument {key!r}; "
                    f"pass-through parameters start with one of {self._passthrough_prefixes}."
                )
        # 0 epochs would leave random weights behind a fitted-looking estimator
        check_scalar(
            self.max_epochs, "max_epochs", numbers.Integral, min_val=1, allow_none=True,
            hint=_EPOCHS_HINT,
        )
        template = self.module if isinstance(self.module, NeuralNet) else None
        if self.max_epochs is None and template is not None and template.max_epochs is not None:
            check_scalar(
                template.max_epochs, "max_epochs of the skorch net given as module",
                numbers.Integral, min_val=1, hint=_EPOCHS_HINT,
            )
        check_scalar(
            self.lr, "lr", numbers.Real, min_val=0, include_boundaries="neither", allow_none=True
        )
        check_scalar(self.batch_size, "batch_size", numbers.Integral, min_val=1, allow_none=True)
        check_scalar(self.warm_start, "warm_start", bool)
        check_scalar(self.verbose, "verbose", (numbers.Integral, bool), min_val=0)
        for name in ("optimizer", "train_split"):
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise TypeError(
                    f"{name} must be None or callable (an optimizer class; a split such as "
                    f"skorch.dataset.ValidSplit(5)), got {value!r}."
                )

    def _training_settings(self):
        """``max_epochs``, ``lr``, ``batch_size``, ``optimizer``: ours, a template's, or the defaults."""
        template = self.module if isinstance(self.module, NeuralNet) else None
        settings = {}
        for name in _SETTINGS:
            default = TRAINING_DEFAULTS[name]
            value = getattr(self, name)
            if value is None and template is not None:
                value = getattr(template, name)
            settings[name] = default if value is None else value
        return settings

    def _net_params(self, device):
        """Keyword arguments of the skorch net that every estimator builds the same way."""
        params = {
            **self._training_settings(),
            "train_split": self.train_split,
            # used as given, as skorch does, so that a callback that records
            # training dynamics can be read after fit
            "callbacks": self.callbacks,
            "device": device,
            "verbose": self.verbose,
            "iterator_train": EvenBatchLoader,
            "iterator_train__shuffle": True,
            "iterator_train__collate_fn": collate_rows,
            "iterator_valid__collate_fn": collate_rows,
            "predict_nonlinearity": class_softmax,
        }
        if "weight_decay" in inspect.signature(params["optimizer"]).parameters:
            params["optimizer__weight_decay"] = TRAINING_DEFAULTS["optimizer__weight_decay"]
        if isinstance(self.module, NeuralNet):
            template = self.module.get_params_for("optimizer")
            params.update({f"optimizer__{k}": v for k, v in template.items()})
        params.update({k: v for k, v in self._kwargs.items() if not k.startswith("module__")})
        return params

    def _auto_epochs(self, n_rows):
        """Apply :func:`default_epochs` to ``net_`` when no one chose ``max_epochs``."""
        template = self.module if isinstance(self.module, NeuralNet) else None
        if self.max_epochs is None and template is None:
            self.net_.set_params(max_epochs=default_epochs(n_rows, self.net_.batch_size))

    # -- the module -------------------------------------------------------------
    def _module_spec(self):
        """The module (class or instance) and its constructor parameters."""
        spec, params = self.module, {}
        if isinstance(spec, NeuralNet):
            params = dict(spec.get_params_for("module"))
            spec = spec.module
        params.update({k[len("module__"):]: v for k, v in self._kwargs.items() if k.startswith("module__")})
        return (MLP if spec is None else spec), params

    def _make_module(self, n_features, n_classes):
        """A new module: a copy of an instance, or a class built and sized from the data."""
        spec, params = self._module_spec()
        if isinstance(spec, nn.Module):
            if params:
                raise ValueError(
                    "module__* parameters were given with a module *instance*; pass the "
                    "module class instead so that they can be used."
                )
            return copy.deepcopy(spec)
        if not (isinstance(spec, type) and issubclass(spec, nn.Module)):
            raise TypeError(
                "module must be None, a torch.nn.Module class or instance, or a skorch "
                f"NeuralNet; got {type(spec).__name__}."
            )
        if spec is MLP:
            params = {**self._mlp_params, **params}
        accepted = inspect.signature(spec).parameters
        sizes = [("n_features", n_features), ("n_classes", n_classes)]
        shape = getattr(self, "input_shape_", ())
        if len(shape) == 3:  # images (C, H, W): also their channels
            sizes.append(("in_channels", shape[0]))
        for name, value in sizes:
            if name in accepted:
                params.setdefault(name, value)
        try:
            return spec(**params)
        except TypeError as exc:
            raise TypeError(
                f"module {spec.__name__} could not be built from {params}: {exc}. Pass its "
                "constructor arguments as module__<name>=..."
            ) from exc

    def _check_module(self, module, X, n_classes):
        """Run ``module`` on ``X[:2]``: it must take X and return ``(n, n_classes, *target_shape_)`` logits."""
        module.eval()
        try:
            with torch.no_grad():
                out = module(rows_as_tensor(X[:2]))
        except Exception as exc:  # the module's own error, with our context
            raise ValueError(
                f"module could not process X of shape {X.shape[1:]} per sample: {exc}"
            ) from exc
        finally:
            module.train()
        check_logits(out, n_classes, getattr(self, "target_shape_", ()))

    def _build_net(self, X, n_classes, device, seed):
        """The initialised skorch net this estimator trains, on codes ``0..n_classes-1``."""
        raise NotImplementedError

    def _sync_net(self):
        """Apply the settings that may change between warm fits to ``net_``."""
        settings = self._training_settings()
        self.net_.set_params(
            max_epochs=settings["max_epochs"],
            lr=settings["lr"],
            batch_size=settings["batch_size"],
            verbose=self.verbose,
        )

    def _after_training(self):
        """Fitted state derived from ``net_`` once it has trained."""

    # -- fitting --------------------------------------------------------------------
    def fit(self, X, y, **fit_params):
        """Train the network (from new weights unless ``warm_start``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, C, H, W)
        y : array-like of shape (n_samples,) or (n_samples, H, W)
            Labels of any type, or label maps (segmentation: the module
            must then return ``(n_samples, K, H, W)`` logits, e.g.
            :class:`~skal.models.SmallUNet`).
        **fit_params
            Passed to the skorch net's ``partial_fit`` (the module's
            ``forward`` and ``train_split``).

        Returns
        -------
        self
        """
        reset = not (self.warm_start and hasattr(self, "net_"))
        return self._fit(X, y, reset=reset, classes=self.classes, fit_params=fit_params)

    def partial_fit(self, X, y, classes=None, **fit_params):
        """Train ``max_epochs`` more epochs from the current weights.

        As in skorch, one call runs ``max_epochs`` epochs; the first call
        initialises the network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, C, H, W)
        y : array-like of shape (n_samples,)
        classes : array-like, default=None
            All labels, read on the first call only (as in scikit-learn);
            ``None`` uses the ``classes`` parameter.
        **fit_params
            Passed to the skorch net's ``partial_fit``.

        Returns
        -------
        self
        """
        declared = self.classes if classes is None else classes
        return self._fit(X, y, reset=not hasattr(self, "net_"), classes=declared, fit_params=fit_params)

    def _initialize(self, X, y, classes=None):
        """Build the network on ``(X, y)`` as a first fit does, without training it.

        For tests and benchmarks that set the untrained network up before
        training it with ``partial_fit`` (e.g. the stacked ensemble's
        path): ``max_epochs`` is at least 1, so a fit always trains.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        y : array-like of shape (n_samples,) or (n_samples, H, W)
        classes : array-like, default=None
            All labels; ``None`` uses the ``classes`` parameter.

        Returns
        -------
        self
        """
        declared = self.classes if classes is None else classes
        return self._fit(X, y, reset=True, classes=declared, fit_params={}, train=False)

    def _fit(self, X, y, *, reset, classes, fit_params, train=True):
        self._check_params()
        X, y = validate_X(self, X, y, reset=reset)
        if reset:
            classes = first_fit_classes(y, classes)
        else:
            check_classification_targets(flat_labels(y))
            classes = self.classes_
        codes = encode_labels(y, classes)
        device = resolve_device(self.device)
        seed = int(check_random_state(self.random_state).randint(SEED_MAX))
        with isolated_rng(device):
            torch.manual_seed(seed)
            if reset:
                net = self._build_net(X, len(classes), device, seed)
                self.classes_, self.net_ = classes, net
            else:
                self._sync_net()
            if train:
                self._auto_epochs(len(X))
                # skorch's partial_fit swallows a KeyboardInterrupt and returns
                # a half-trained net; the caller must see the Ctrl-C.
                with propagate_interrupt():
                    self.net_.partial_fit(X, codes, **fit_params)
        self._after_training()
        return self

    # -- prediction ---------------------------------------------------------------------
    def predict_proba(self, X):
        """Mean of the predictive samples' class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes) or (n_samples, n_classes, H, W)
            Columns in the order of ``classes_``; per pixel for label maps.
        """
        proba = self.predict_proba_samples(X).mean(axis=0)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X):
        """The label of highest mean probability.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, H, W)
            Labels from ``classes_``; label maps for a segmenter.
        """
        codes = np.argmax(self.predict_proba(X), axis=1)
        return self.classes_[codes]

    def score(self, X, y, sample_weight=None):
        """Mean accuracy on labels; mean IoU (:func:`skal.metrics.mean_iou`) on label maps.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
        y : array-like of shape (n_samples,) or (n_samples, H, W)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        if is_label_maps(y):
            return mean_iou(y, self.predict(X), labels=self.classes_, sample_weight=sample_weight)
        return super().score(X, y, sample_weight=sample_weight)
