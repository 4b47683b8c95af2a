"""What the deep estimators share (skal/models/_base.py), checked on all three."""

import inspect
import math
import re
import signal

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback
from skorch.dataset import ValidSplit
from torch import nn

from skal.models import MLP
from skal.models._base import TRAINING_DEFAULTS, even_batch_size

from ._helpers import ESTIMATORS, make_estimator

NAMES = list(ESTIMATORS)


# -- parameters -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, params, error, match",
    [
        ("dpe", {"max_epochs": True}, TypeError, "max_epochs must be an instance of int, not bool"),
        ("mc_dropout", {"max_epochs": -1}, ValueError, "max_epochs == -1, must be >= 1"),
        ("deep_ensemble", {"max_epochs": 2.5}, TypeError, "max_epochs must be an instance of int"),
        ("deep_ensemble", {"lr": 0.0}, ValueError, "lr == 0.0, must be > 0"),
        ("mc_dropout", {"lr": "fast"}, TypeError, "lr must be an instance of"),
        ("dpe", {"lr": float("inf")}, ValueError, "lr must be finite"),
        ("dpe", {"batch_size": 0}, ValueError, "batch_size == 0, must be >= 1"),
        ("deep_ensemble", {"warm_start": 1}, TypeError, "warm_start must be an instance of bool"),
        ("mc_dropout", {"verbose": -1}, ValueError, "verbose == -1, must be >= 0"),
        ("dpe", {"optimizer": "adam"}, TypeError, "optimizer must be None or callable"),
        ("mc_dropout", {"train_split": 0.2}, TypeError, "train_split must be None or callable"),
        ("dpe", {"modul__hidden_units": (3,)}, TypeError, "unexpected keyword argument 'modul__hidden_units'"),
        ("deep_ensemble", {"beta": 1.0}, TypeError, "unexpected keyword argument 'beta'"),
        ("deep_ensemble", {"criterion__weight": None}, TypeError, "unexpected keyword argument"),
        ("dpe", {"n_estimators": 1}, ValueError, "n_estimators == 1, must be >= 2. An ensemble needs at least 2"),
        ("deep_ensemble", {"n_estimators": 2.0}, TypeError, "n_estimators must be an instance of int"),
        ("deep_ensemble", {"vectorize": "yes"}, TypeError, "vectorize must be an instance of bool"),
        ("dpe", {"beta": -1.0}, ValueError, "beta == -1.0, must be >= 0"),
        ("dpe", {"beta": float("nan")}, ValueError, "beta must be finite"),
        ("dpe", {"beta": True}, TypeError, "beta must be an instance of"),
        ("mc_dropout", {"n_samples": 0}, ValueError, "n_samples == 0, must be >= 1"),
        ("mc_dropout", {"criterion": "ce"}, TypeError, "criterion must be a torch loss class"),
        ("mc_dropout", {"module": "mlp"}, TypeError, "module must be None, a torch.nn.Module class"),
        (
            "dpe",
            {"module": nn.Linear(4, 3), "module__bias": False},
            ValueError,
            r"module__\* parameters were given with a module \*instance\*",
        ),
        ("deep_ensemble", {"module": MLP, "module__depth": 3}, TypeError, "module__<name>"),
    ],
)
def test_bad_parameters_are_rejected_at_fit(blobs, name, params, error, match):
    estimator = make_estimator(name, **params)
    with pytest.raises(error, match=match):
        estimator.fit(*blobs)


@pytest.mark.parametrize("name", NAMES)
def test_pass_through_parameters_round_trip_through_get_params_and_clone(name):
    estimator = make_estimator(name, optimizer__weight_decay=1e-4)
    params = estimator.get_params()
    assert params["module__hidden_units"] == (16,) and params["optimizer__weight_decay"] == 1e-4
    estimator.set_params(module__hidden_units=(8,), iterator_train__drop_last=True)
    cloned = clone(estimator)
    assert cloned.get_params()["module__hidden_units"] == (8,)
    assert cloned.get_params()["iterator_train__drop_last"] is True
    # an unknown name that was never given is a typo: rejected at once
    with pytest.raises(ValueError, match="Invalid parameter 'lerning_rate'"):
        estimator.set_params(lerning_rate=0.1)


def test_an_unknown_argument_survives_clone_and_fails_at_fit(blobs):
    # Dropping it in clone() would let a GridSearchCV copy fit what the
    # original refuses.
    estimator = ESTIMATORS["deep_ensemble"](beta=1.0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'beta'"):
        clone(estimator).fit(*blobs)


@pytest.mark.parametrize("name", NAMES)
def test_docstring_lists_exactly_the_constructor_parameters(name):
    cls = ESTIMATORS[name]
    section = cls.__doc__.split("Parameters\n    ----------\n", 1)[1].split("\n\n    Attributes", 1)[0]
    documented = re.findall(r"^    (\*\*kwargs|\w+)(?: :|$)", section, flags=re.MULTILINE)
    expected = [
        f"**{p.name}" if p.kind is p.VAR_KEYWORD else p.name
        for p in inspect.signature(cls).parameters.values()
    ]
    assert documented == expected
    assert not re.search(r"^\s*\{\w+\}\s*$", cls.__doc__, flags=re.MULTILINE)


@pytest.mark.parametrize("name", NAMES)
def test_training_defaults_come_from_one_place(blobs, monkeypatch, name):
    monkeypatch.setitem(TRAINING_DEFAULTS, "max_epochs", 2)
    monkeypatch.setitem(TRAINING_DEFAULTS, "min_steps", 1)
    monkeypatch.setitem(TRAINING_DEFAULTS, "lr", 0.05)
    monkeypatch.setitem(TRAINING_DEFAULTS, "batch_size", 16)
    monkeypatch.setitem(TRAINING_DEFAULTS, "optimizer", torch.optim.SGD)
    monkeypatch.setitem(TRAINING_DEFAULTS, "optimizer__weight_decay", 0.25)
    net = make_estimator(name, max_epochs=None).fit(*blobs).net_
    assert len(net.history) == 2
    assert net.batch_size == 16 and net.lr == 0.05
    assert isinstance(net.optimizer_, torch.optim.SGD)
    # Bayes by Backprop's regulariser is its prior: no weight decay unless asked for
    expected_decay = 0.0 if name == "bayes_by_backprop" else 0.25
    assert net.optimizer_.param_groups[0]["weight_decay"] == expected_decay


@pytest.mark.parametrize("name", NAMES)
def test_small_training_sets_get_at_least_min_steps_gradient_steps(blobs, monkeypatch, name):
    # 100 epochs of one minibatch are 100 steps on 20 labels: too few (issue 9).
    monkeypatch.setitem(TRAINING_DEFAULTS, "max_epochs", 2)
    monkeypatch.setitem(TRAINING_DEFAULTS, "min_steps", 12)
    X, y = blobs
    net = make_estimator(name, max_epochs=None, batch_size=len(X) // 2).fit(X, y).net_
    assert len(net.history) == 6  # two steps per epoch
    assert sum(len(epoch["batches"]) for epoch in net.history) == 12
    explicit = make_estimator(name, max_epochs=3, batch_size=len(X) // 2).fit(X, y).net_
    assert len(explicit.history) == 3  # a chosen max_epochs is exact
    wd = make_estimator(name, optimizer__weight_decay=0.0).fit(X, y).net_
    assert wd.optimizer_.param_groups[0]["weight_decay"] == 0.0


@pytest.mark.parametrize("name", NAMES)
def test_a_skorch_net_is_a_template_for_module_and_settings(blobs, name):
    template = NeuralNetClassifier(
        MLP,
        module__hidden_units=(12,),
        module__dropout=0.25,
        max_epochs=2,
        lr=0.05,
        optimizer=torch.optim.SGD,
        optimizer__momentum=0.9,
    )
    estimator = make_estimator(name, module=template, max_epochs=None).fit(*blobs)
    net = estimator.net_
    assert len(net.history) == 2 and net.lr == 0.05
    assert isinstance(net.optimizer_, torch.optim.SGD)
    assert net.optimizer_.param_groups[0]["momentum"] == 0.9
    assert estimator.embed(blobs[0][:5]).shape[1] % 12 == 0
    # the template itself is left as it was
    assert not template.initialized_


# -- data and module checks at the boundary ------------------------------------------------
def _with(X, row, value):
    X = X.astype(np.float64)
    X[row, 1] = value
    return X


BAD_FIT_DATA = {
    "nan": (lambda X, y: (_with(X, 3, np.nan), y), ValueError, "Input X contains NaN"),
    "inf": (lambda X, y: (_with(X, 3, np.inf), y), ValueError, "Input X contains infinity"),
    "one class": (lambda X, y: (X, np.zeros(len(X))), ValueError, "1 class only"),
    "no y": (lambda X, y: (X, None), ValueError, "requires y to be passed"),
    "short y": (lambda X, y: (X, y[:-1]), ValueError, "inconsistent numbers of samples"),
    "2-d y": (lambda X, y: (X, np.c_[y, y]), ValueError, "y should be a 1d array"),
}


@pytest.mark.parametrize("case", BAD_FIT_DATA)
@pytest.mark.parametrize("name", NAMES)
def test_bad_data_at_fit(blobs, name, case):
    transform, error, match = BAD_FIT_DATA[case]
    X, y = transform(*blobs)
    with pytest.raises(error, match=match):
        make_estimator(name).fit(X, y)


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.RandomState(0)
    X = rng.randn(60, 4).astype(np.float32)
    y = np.arange(60) % 2
    return {name: make_estimator(name, warm_start=True, max_epochs=1).fit(X, y) for name in NAMES}


BAD_PREDICT_DATA = {
    "features": (lambda X: X[:, :3], "X has 3 features, but {cls} is expecting 4"),
    "shape": (lambda X: X[:, :, None], r"samples of shape \(4, 1\), but {cls} was fitted"),
    "nan": (lambda X: _with(X, 0, np.nan), "Input X contains NaN"),
}


@pytest.mark.parametrize("method", ["predict", "predict_proba", "predict_proba_samples", "embed"])
@pytest.mark.parametrize("case", BAD_PREDICT_DATA)
@pytest.mark.parametrize("name", NAMES)
def test_bad_data_at_predict(blobs, fitted, name, case, method):
    transform, match = BAD_PREDICT_DATA[case]
    estimator = fitted[name]
    with pytest.raises(ValueError, match=match.format(cls=type(estimator).__name__)):
        getattr(estimator, method)(transform(blobs[0]))


@pytest.mark.parametrize("name", NAMES)
def test_a_label_unseen_at_the_first_fit_needs_declared_classes(blobs, fitted, name):
    X, y = blobs  # three classes; `fitted` saw two
    with pytest.raises(ValueError, match=r"labels \[2\] not in classes_ \[0, 1\]: they were not declared"):
        clone(fitted[name]).set_params(warm_start=True).fit(X, y % 2).fit(X, y)
    declared = make_estimator(name, classes=[0, 1, 2], warm_start=True).fit(X[y < 2], y[y < 2])
    assert declared.predict_proba(X).shape == (60, 3)
    declared.fit(X, y)  # the new label arrives in a later round
    np.testing.assert_array_equal(declared.classes_, [0, 1, 2])


@pytest.mark.parametrize(
    "module, match",
    [
        (
            nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 5)),
            r"module outputs shape \(5,\) per sample but there are 3 classes",
        ),
        (nn.Sequential(nn.Dropout(0.5), nn.Linear(7, 3)), r"module could not process X of shape \(4,\)"),
    ],
)
@pytest.mark.parametrize("name", NAMES)
def test_the_module_is_probed_on_the_data(blobs, name, module, match):
    with pytest.raises(ValueError, match=match):
        make_estimator(name, module=module).fit(*blobs)


@pytest.mark.parametrize("name", NAMES)
def test_caller_arrays_and_module_are_not_modified(blobs, name):
    X, y = blobs
    X0, y0 = X.copy(), y.copy()
    module = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))
    weights = module[0].weight.detach().clone()
    estimator = make_estimator(name, module=module).fit(X, y)
    estimator.predict_proba(X)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    assert torch.equal(module[0].weight, weights)


# -- training --------------------------------------------------------------------------------
_READ_ONLY_SCRIPT = """
import warnings
import numpy as np
from sklearn.datasets import load_iris
from skal.models import DeepEnsemble, DeepProbabilisticEnsemble, MCDropoutClassifier, embed

warnings.filterwarnings("error", message="The given NumPy array is not writable")
X, y = load_iris(return_X_y=True)
X = X.astype(np.float32)
X.setflags(write=False)
for est in (DeepProbabilisticEnsemble(n_estimators=2, max_epochs=2), DeepEnsemble(n_estimators=2, max_epochs=2),
            MCDropoutClassifier(max_epochs=2, n_samples=3)):
    est.fit(X, y)
    est.predict_proba_samples(X)
    embed(est, X)
"""


def test_read_only_arrays_train_and_predict_without_torchs_warning():
    # Regression: `skal run --n-jobs 2` printed torch's "The given NumPy array is
    # not writable" (joblib hands workers read-only memory-mapped arrays). torch
    # warns once per process, hence a fresh one.
    import subprocess
    import sys

    subprocess.run([sys.executable, "-c", _READ_ONLY_SCRIPT], check=True)


def test_even_batch_size_never_leaves_a_last_batch_of_one_row():
    for n_rows in range(2, 400):
        for batch_size in range(1, 40):
            size = even_batch_size(n_rows, batch_size)
            if n_rows % batch_size != 1 or n_rows <= batch_size:
                assert size == batch_size
                continue
            assert n_rows % size != 1, (n_rows, batch_size)
            assert math.ceil(n_rows / size) <= math.ceil(n_rows / batch_size)


class _BatchNormMLP(nn.Module):
    def __init__(self, n_features, n_classes):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(n_features, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2)
        )
        self.head = nn.Linear(16, n_classes)

    def forward(self, X):
        return self.head(self.body(X))


@pytest.mark.parametrize("name", NAMES)
def test_batchnorm_trains_when_the_last_minibatch_would_hold_one_row(name):
    # 129 rows in batches of 128 used to end each epoch on one row, on
    # which BatchNorm cannot train ("Expected more than 1 value per channel").
    rng = np.random.RandomState(0)
    X = rng.randn(129, 4).astype(np.float32)
    y = np.arange(129) % 3
    estimator = make_estimator(name, module=_BatchNormMLP, max_epochs=2, batch_size=128).fit(X, y)
    for epoch in estimator.net_.history:
        assert [b["train_batch_size"] for b in epoch["batches"]] == [65, 64]
    assert estimator.predict_proba(X).shape == (129, 3)


@pytest.mark.parametrize("name", NAMES)
def test_a_validation_split_scores_the_held_out_rows(name):
    # MC dropout used to raise at the end of the first epoch: skorch's
    # valid_acc compared the labels its predict returned with the codes
    # it had been trained on.
    X, y = load_iris(return_X_y=True)
    order = np.random.RandomState(0).permutation(len(X))
    X = StandardScaler().fit_transform(X[order]).astype(np.float32)
    labels = np.array(["setosa", "versicolor", "virginica"])[y[order]]
    estimator = make_estimator(
        name, max_epochs=20, lr=0.02, batch_size=16, train_split=ValidSplit(5)
    ).fit(X, labels)
    history = estimator.net_.history
    assert len(history) == 20 and "valid_loss" in history[-1]
    # ValidSplit(5) holds out the first fifth; valid_acc is the net's own
    # accuracy on those rows, on label codes
    codes = np.searchsorted(estimator.classes_, labels[:30])
    accuracy = np.mean(estimator.net_.predict(X[:30]) == codes)
    assert history[-1, "valid_acc"] == pytest.approx(accuracy)
    assert accuracy > 0.8


@pytest.mark.parametrize("name", NAMES)
def test_settings_changed_between_warm_fits_apply(blobs, name):
    X, y = blobs
    estimator = make_estimator(name, warm_start=True, max_epochs=2).fit(X, y)
    estimator.set_params(max_epochs=1, lr=0.5, batch_size=7).fit(X, y)
    net = estimator.net_
    assert len(net.history) == 3
    if name == "snapshot":  # its cycles start at lr and anneal it
        assert net.lr == 0.5 and 0 < net.optimizer_.param_groups[0]["lr"] < 0.5
    else:
        assert net.optimizer_.param_groups[0]["lr"] == 0.5
    assert len(net.history[-1, "batches"]) == math.ceil(60 / 7)


class _ScaledLogits(nn.Module):
    def __init__(self, n_features, n_classes):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_features, 8), nn.ReLU(), nn.Dropout(0.5))
        self.head = nn.Linear(8, n_classes)

    def forward(self, X, scale=1.0):
        return self.head(self.body(X)) * scale


@pytest.mark.parametrize("name", NAMES)
def test_fit_params_reach_the_module(blobs, name):
    X, y = blobs
    # Logits multiplied by 0: every prediction is uniform, the loss log(3) per member.
    estimator = make_estimator(name, module=_ScaledLogits, max_epochs=1).fit(X, y, scale=0.0)
    ce = [b.get("ce", b["train_loss"]) for b in estimator.net_.history[-1, "batches"]]
    members = getattr(estimator.net_.module_, "n_members", 1)  # ensembles trained jointly
    np.testing.assert_allclose(ce, members * np.log(3), rtol=1e-5)


class _CtrlC(Callback):
    """Sends the process a SIGINT, as pressing Ctrl-C does, after the first epoch."""

    def on_epoch_end(self, net, **kwargs):
        signal.raise_signal(signal.SIGINT)


@pytest.mark.parametrize("name", NAMES)
def test_ctrl_c_during_training_reaches_the_caller(blobs, name, ctrl_c_delivered):
    # skorch alone would swallow it and return a half-trained net, which an
    # active-learning campaign would then record as the round's model.
    estimator = make_estimator(name, callbacks=[_CtrlC()], max_epochs=3)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        estimator.fit(*blobs)
    assert len(estimator.net_.history) == 1  # training stopped at the Ctrl-C
    assert signal.getsignal(signal.SIGINT) is handler
