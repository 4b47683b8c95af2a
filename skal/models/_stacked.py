"""E copies of one torch module run as a single module.

The members' parameters and buffers are stacked along a leading dimension
of size E, one ``(E, ...)`` tensor per member tensor under the member's own
name. The skorch net that trains a
:class:`~skal.models.DeepProbabilisticEnsemble` or
:class:`~skal.models.DeepEnsemble` wraps this module, so skorch's loop,
callbacks and optimisers see one ordinary module whose output has shape
``(E, batch, K)``.

Small networks cost per operation, not per multiply-add: E members must
share every kernel launch and every Python call, not only the training
loop. :class:`StackedEnsemble` runs them one of three ways, the fastest that
applies (its ``path``, picked by :func:`fastest_path`):

``"layers"``
    Every layer of the member computes all members in one operation: a
    batched matrix product for ``Linear``, a grouped convolution for
    ``Conv``, one ``BatchNorm`` over the members' channels side by side,
    and activations, dropout and pooling on the member-stacked tensor
    (:data:`STACKED_LAYERS`). It applies when the member's forward is a
    chain of such layers: an ``nn.Sequential`` tree of them, or a module
    whose forward prepares the input and then calls its layers one after
    another (skal's ``MLP``, ``GalCNN``, ``SmallCNN``), which a probe run
    on an example input verifies.
``"vmap"``
    ``torch.func.vmap`` over the member's own forward, for any other module.
``"loop"``
    A Python loop over the members: on CPU for members with convolutions,
    which cost E times one member's arithmetic however they run, and with
    ``vectorize=False``, for modules ``vmap`` cannot batch.

Between stacked layers a batch has shape ``(E, batch, ...)``: each member's
activations as the member would hold them, one member after another.
"""

from __future__ import annotations

import copy
import itertools

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from ._modules import find_head

__all__ = ["StackedEnsemble", "STACKED_LAYERS", "fastest_path", "layer_chain"]

PATHS = ("layers", "vmap", "loop")


def _key(name):
    # ParameterDict keys may not contain dots.
    return name.replace(".", "__")


# -- the stacked layers ----------------------------------------------------------
def _channels_merged(x):
    """``(E, B, C, ...)`` as ``(B, E*C, ...)``: the members' channels side by side.

    A view when ``x`` came from :func:`_channels_split`, as the output of a
    stacked convolution does.
    """
    return x.transpose(0, 1).flatten(1, 2)


def _channels_split(y, n_members):
    """``(B, E*C, ...)`` back to ``(E, B, C, ...)``, a view."""
    return y.unflatten(1, (n_members, -1)).transpose(0, 1)


def _stacked_parameter(tensor, n_members):
    """An empty ``(E, *tensor.shape)`` parameter on ``tensor``'s device (the template's: meta)."""
    return nn.Parameter(tensor.new_empty(n_members, *tensor.shape), requires_grad=tensor.requires_grad)


class StackedLinear(nn.Module):
    """E ``nn.Linear`` layers as one batched matrix product.

    ``weight`` has shape ``(E, out_features, in_features)`` and ``bias``
    ``(E, out_features)``; the input ``(E, B, ..., in_features)``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from skal.models._stacked import StackedLinear
    >>> layer = StackedLinear(nn.Linear(3, 2), n_members=4).to_empty(device="cpu")
    >>> layer(torch.zeros(4, 5, 3)).shape
    torch.Size([4, 5, 2])
    """

    def __init__(self, layer, n_members):
        super().__init__()
        self.weight = _stacked_parameter(layer.weight, n_members)
        self.bias = None if layer.bias is None else _stacked_parameter(layer.bias, n_members)

    def forward(self, x):
        # Computed transposed, W @ x^T of shape (E, out, N), and handed on as
        # its transpose. MKL's batched GEMM is several times slower on
        # results with few columns, which autograd's products for x @ W^T
        # have with a head's few classes; this way every product of a
        # training step has out_features, in_features or N columns, and the
        # next layer reads its input contiguously.
        columns = x.reshape(x.shape[0], -1, x.shape[-1]).transpose(1, 2)
        if self.bias is None:
            out = torch.bmm(self.weight, columns)
        else:
            out = torch.baddbmm(self.bias.unsqueeze(-1), self.weight, columns)
        return out.transpose(1, 2).reshape(*x.shape[:-1], out.shape[1])


class StackedConv(nn.Module):
    """E ``nn.Conv1d/2d/3d`` layers (zero padding) as one grouped convolution.

    ``weight`` has shape ``(E, out_channels, in_channels / groups, *kernel)``.
    The members' channels lie side by side, so E members of ``groups``
    groups are one convolution of ``E * groups`` groups. A first layer,
    whose input every member shares, is one ordinary convolution with
    ``E * out_channels`` filters: the input is not copied E times.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from skal.models._stacked import StackedConv
    >>> layer = StackedConv(nn.Conv2d(1, 8, 3), n_members=4).to_empty(device="cpu")
    >>> layer(torch.zeros(4, 2, 1, 10, 10)).shape
    torch.Size([4, 2, 8, 8, 8])
    """

    _CONV = {nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d, nn.Conv3d: F.conv3d}

    def __init__(self, layer, n_members):
        super().__init__()
        self.n_members = n_members
        self.conv = self._CONV[type(layer)]
        self.stride, self.padding, self.dilation = layer.stride, layer.padding, layer.dilation
        self.groups = layer.groups
        self.weight = _stacked_parameter(layer.weight, n_members)
        self.bias = None if layer.bias is None else _stacked_parameter(layer.bias, n_members)

    def forward(self, x):
        weight = self.weight.flatten(0, 1)
        bias = None if self.bias is None else self.bias.flatten()
        if x.stride(0) == 0:  # broadcast: every member sees the same input
            x, groups = x[0], self.groups
        else:
            x, groups = _channels_merged(x), self.groups * self.n_members
        y = self.conv(x, weight, bias, self.stride, self.padding, self.dilation, groups)
        return _channels_split(y, self.n_members)


class StackedBatchNorm(nn.Module):
    """E ``nn.BatchNorm1d/2d/3d`` layers as one over the members' channels side by side.

    Each member normalises its own channels with its own batch statistics
    and running statistics (``running_mean`` of shape ``(E, C)``, updated
    in place as ``nn.BatchNorm`` does), exactly as E separate layers.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from skal.models._stacked import StackedBatchNorm
    >>> layer = StackedBatchNorm(nn.BatchNorm1d(3), n_members=4).to_empty(device="cpu")
    >>> layer.running_mean.shape
    torch.Size([4, 3])
    """

    def __init__(self, layer, n_members):
        super().__init__()
        self.n_members = n_members
        self.eps, self.momentum = layer.eps, layer.momentum
        self.track_running_stats = layer.track_running_stats
        for name, tensor in layer.named_parameters(recurse=False):
            setattr(self, name, _stacked_parameter(tensor, n_members))
        for name, tensor in layer.named_buffers(recurse=False):
            self.register_buffer(name, tensor.new_empty(n_members, *tensor.shape))
        for name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
            if not hasattr(self, name):  # as nn.BatchNorm without affine or running statistics
                setattr(self, name, None)

    def forward(self, x):
        # nn.BatchNorm's forward, with the members' (E, C) tensors laid flat.
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative average; every member has seen as many batches
                factor = 1.0 / float(self.num_batches_tracked[0])
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        track = not self.training or self.track_running_stats
        # view, never reshape: the running statistics must be updated in place
        running_mean, running_var, weight, bias = (
            None if t is None else t.view(-1)
            for t in (
                self.running_mean if track else None,
                self.running_var if track else None,
                self.weight,
                self.bias,
            )
        )
        y = F.batch_norm(
            _channels_merged(x), running_mean, running_var, weight, bias,
            use_batch_stats, factor, self.eps,
        )
        return _channels_split(y, self.n_members)


class StackedPool(nn.Module):
    """A pooling layer applied to the members' channels side by side.

    Pooling acts on each channel of each sample alone, so the member-stacked
    batch is pooled as one batch of ``E * C`` channels.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from skal.models._stacked import StackedPool
    >>> StackedPool(nn.MaxPool2d(2), n_members=4)(torch.zeros(4, 2, 3, 8, 8)).shape
    torch.Size([4, 2, 3, 4, 4])
    """

    def __init__(self, layer, n_members):
        super().__init__()
        self.n_members = n_members
        self.layer = layer

    def forward(self, x):
        return _channels_split(self.layer(_channels_merged(x)), self.n_members)


class StackedFlatten(nn.Module):
    """``nn.Flatten`` of every member: the same dimensions, one further along.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from skal.models._stacked import StackedFlatten
    >>> StackedFlatten(nn.Flatten(), n_members=4)(torch.zeros(4, 2, 3, 5, 5)).shape
    torch.Size([4, 2, 75])
    """

    def __init__(self, layer, n_members):
        super().__init__()
        self.start_dim, self.end_dim = (d + 1 if d >= 0 else d for d in (layer.start_dim, layer.end_dim))

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)


def _elementwise(layer, n_members):
    # Acts on every value alone (dropout draws a mask value per value, hence
    # per member): the member's own layer computes the stacked batch.
    return layer


_ELEMENTWISE = (
    nn.Identity, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU,
    nn.SiLU, nn.Mish, nn.Tanh, nn.Sigmoid, nn.Softplus, nn.Hardtanh, nn.Hardswish,
    nn.Hardsigmoid, nn.Dropout, nn.AlphaDropout,
)
_POOLS = (
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
)

#: Layer types the ``"layers"`` path computes for all members at once, and
#: what builds their stacked version ``(layer, n_members)``. Exact types:
#: a subclass may compute something else in its forward.
STACKED_LAYERS = {
    nn.Linear: StackedLinear,
    **dict.fromkeys(StackedConv._CONV, StackedConv),
    **dict.fromkeys((nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d), StackedBatchNorm),
    **dict.fromkeys(_POOLS, StackedPool),
    nn.Flatten: StackedFlatten,
    **dict.fromkeys(_ELEMENTWISE, _elementwise),
}


def _stackable(layer):
    # StackedConv pads with zeros only
    return type(layer) in STACKED_LAYERS and getattr(layer, "padding_mode", "zeros") == "zeros"


# -- which layers the member's forward chains ---------------------------------------
def _sequential_chain(module, prefix=""):
    """The stackable layers of an ``nn.Sequential`` tree in call order, or None."""
    if _stackable(module):
        return [prefix]
    if type(module) is not nn.Sequential:
        return None
    names = []
    for name, child in module.named_children():
        chain = _sequential_chain(child, f"{prefix}.{name}" if prefix else name)
        if chain is None:
            return None
        names += chain
    return names


class _Probe(nn.Module):
    """Stands in for a layer while the member's forward runs on an example.

    It records the call and holds none of the layer's attributes: forward
    code that reads a layer's weights instead of calling the layer fails.
    """

    def __init__(self, name, layer, calls):
        super().__init__()
        self.name = name
        self._layer = [layer]  # a list keeps it out of the module tree
        self._calls = calls

    def forward(self, *args, **kwargs):
        single = len(args) == 1 and not kwargs and isinstance(args[0], torch.Tensor)
        version = args[0]._version if single else None
        out = self._layer[0](*args, **kwargs)
        self._calls.append((self.name, args[0] if single else None, version, out, out._version))
        return out


def _probed_chain(template, example, training):
    """The stackable layers that ``template``'s forward on ``example`` calls, if a chain.

    A chain: each layer takes one tensor, the previous layer's output
    untouched, and the forward returns the last layer's output. What comes
    before the first layer (reshaping the input, say) reads no parameter, so
    it is the same for every member.
    """
    # A zero-filled copy on CPU, not on "meta": meta kernels of common layers
    # (addmm) import torch._dynamo on first use, 5 to 20 s of every process.
    probe = copy.deepcopy(template).to_empty(device="cpu").train(training)
    calls = []
    for name in [n for n, m in probe.named_modules() if n and _stackable(m)]:
        probe.set_submodule(name, _Probe(name, probe.get_submodule(name), calls))
    try:
        # fork_rng: the probe's dropout draws leave the caller's RNG alone.
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            for tensor in itertools.chain(probe.parameters(), probe.buffers()):
                tensor.zero_()
            out = probe(example.detach().to("cpu"))
    except Exception:  # the forward needs what a probe hides
        return None
    if not calls or out is not calls[-1][3]:
        return None
    for (_, _, _, previous, version), (_, x, x_version, _, _) in itertools.pairwise(calls):
        if x is not previous or x_version != version:
            return None
    return [name for name, *_ in calls]


def layer_chain(template, example=None):
    """The layers through which the ``"layers"`` path runs ``template``, or None.

    Parameters
    ----------
    template : torch.nn.Module
        One member (its structure; on any device, "meta" included).
    example : Tensor, default=None
        A batch the member accepts. Without it, only ``nn.Sequential`` trees
        of stackable layers (and a single stackable layer) qualify; with it,
        any module whose forward on it calls its layers as a chain.

    Returns
    -------
    names : list of str or None
        Qualified names of the layers in call order.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from skal.models import MLP, SmallResNet
    >>> from skal.models._stacked import layer_chain
    >>> layer_chain(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)))
    ['0', '1', '2']
    >>> layer_chain(MLP(4, 2), example=torch.zeros(2, 4))
    ['body.0', 'body.1', 'head']
    >>> print(layer_chain(SmallResNet(), example=torch.zeros(2, 3, 32, 32)))
    None
    """
    chain = _sequential_chain(template)
    if chain is None and example is not None:
        chains = [_probed_chain(template, example, training) for training in (True, False)]
        chain = chains[0] if chains[0] == chains[1] else None
    if not chain:
        return None
    # Every parameter and buffer must belong to a chained layer ...
    owners = {
        name.rpartition(".")[0]
        for name, _ in itertools.chain(template.named_parameters(), template.named_buffers())
    }
    # ... and the first layer, which broadcasts the shared input to the
    # members, must run once and not write into that input.
    first = template.get_submodule(chain[0])
    if not owners <= set(chain) or chain.count(chain[0]) > 1 or getattr(first, "inplace", False):
        return None
    return chain


class _Broadcast:
    """Forward pre-hook of the first stacked layer: every member gets the same input."""

    def __init__(self, n_members):
        self.n_members = n_members

    def __call__(self, module, args):
        (x,) = args
        return (x.expand(self.n_members, *x.shape),)


def fastest_path(template, chain, device):
    """The path :class:`StackedEnsemble` picks for ``template`` on ``device``.

    ``"layers"`` when the member is a chain of stackable layers (``chain``),
    else ``"vmap"``; but on CPU a member with convolutions runs member by
    member (``"loop"``). A convolution's work grows with E however it is
    run, and there one grouped convolution over the members' channels (which
    ``vmap`` makes too) runs at about half the speed of E ordinary ones, its
    E times larger activations out of the caches: for GalCNN on 28x28
    images, E = 8, a forward and backward pass over 128 images took 0.80 s
    as a loop, 1.65 s layer by layer and 1.59 s under ``vmap`` on one
    thread of an AMD EPYC (one member: 0.11 s).

    Examples
    --------
    >>> from torch import nn
    >>> from skal.models._stacked import fastest_path, layer_chain
    >>> member = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    >>> chain = layer_chain(member)
    >>> fastest_path(member, chain, "cuda"), fastest_path(member, chain, "cpu")
    ('layers', 'loop')
    """
    # any convolution, transposed ones too (vmap batches those alike)
    convolutional = any(isinstance(m, nn.modules.conv._ConvNd) for m in template.modules())
    if convolutional and torch.device(device).type == "cpu":
        return "loop"
    return "vmap" if chain is None else "layers"


def _stack_layers(template, chain, n_members):
    """``template`` with each layer of ``chain`` replaced by its stacked version."""
    stacked = copy.deepcopy(template)
    for name in dict.fromkeys(chain):
        layer = stacked.get_submodule(name)
        layer = STACKED_LAYERS[type(layer)](layer, n_members)
        if name:
            stacked.set_submodule(name, layer)
        else:  # the member is a single layer
            stacked = layer
    stacked.get_submodule(chain[0]).register_forward_pre_hook(_Broadcast(n_members))
    return stacked


# -- the ensemble -------------------------------------------------------------------------
class StackedEnsemble(nn.Module):
    """Run E members of one architecture as one module.

    Parameters
    ----------
    members : list of torch.nn.Module
        Members with identical structure; their current values become the
        stacked parameters (the members themselves are not kept).
    path : {None, "layers", "vmap", "loop"}, default=None
        How the members run (see the module docstring). ``None`` picks the
        fastest that applies on ``device`` (:func:`fastest_path`).
    example : Tensor, default=None
        A batch the members accept, on which the member's forward is
        probed: modules other than ``nn.Sequential`` trees need one to run
        on the ``"layers"`` path.
    device : str or torch.device, default="cpu"
        Where the ensemble will run; only read to pick the path.

    Attributes
    ----------
    path : str
        The path the members run on; calls with keyword arguments for the
        member's forward take ``"vmap"`` instead of ``"layers"`` (the
        probe ran without them). On ``"layers"``, code of the member's
        forward before its first layer (reshaping the input) runs once for
        all members: it reads no parameter, so it computes the same for
        each, but random draws there are shared.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from skal.models._stacked import StackedEnsemble
    >>> ens = StackedEnsemble([nn.Linear(3, 2) for _ in range(4)])
    >>> ens.path
    'layers'
    >>> ens(torch.zeros(5, 3)).shape
    torch.Size([4, 5, 2])
    """

    def __init__(self, members, path=None, example=None, device="cpu"):
        super().__init__()
        if len(members) < 1:
            raise ValueError("StackedEnsemble needs at least one member.")
        params, buffers = stack_module_state(members)
        self.n_members = len(members)
        self.param_names = list(params)
        self.buffer_names = list(buffers)
        self.stacked_params = nn.ParameterDict(
            {_key(k): nn.Parameter(v.detach().clone()) for k, v in params.items()}
        )
        for k, v in buffers.items():
            self.register_buffer("stacked__" + _key(k), v.clone())
        # The templates only give the computation its structure: functional_call
        # swaps in the stacked tensors, so their own storage can live on "meta".
        # Lists keep them out of parameters(), state_dict() and .to().
        template = copy.deepcopy(members[0]).to("meta")
        self._template = [template]
        chain = layer_chain(template, example) if path in (None, "layers") else None
        self._stacked_template = [None if chain is None else _stack_layers(template, chain, self.n_members)]
        self.path = path or fastest_path(template, chain, device)

    @property
    def path(self):
        """``"layers"``, ``"vmap"`` or ``"loop"``; settable (to compare paths)."""
        return self._path

    @path.setter
    def path(self, path):
        if path not in PATHS:
            raise ValueError(f"path must be one of {PATHS}, got {path!r}.")
        if path == "layers" and self._stacked_template[0] is None:
            raise ValueError(
                f"{type(self.template).__name__} is no chain of the layers in STACKED_LAYERS "
                "(or no example was given to probe its forward): use path='vmap'."
            )
        self._path = path

    # -- views of the stacked state -------------------------------------
    @property
    def template(self):
        return self._template[0]

    def params_dict(self):
        """Stacked parameters keyed by the member's own parameter names."""
        return {n: self.stacked_params[_key(n)] for n in self.param_names}

    def buffers_dict(self):
        return {n: getattr(self, "stacked__" + _key(n)) for n in self.buffer_names}

    def member_state_dict(self, index):
        """State dict of member ``index``, as the member module would hold it.

        Like ``state_dict()``, it leaves out non-persistent buffers;
        :meth:`member_module` carries them too.
        """
        persistent = self.template.state_dict().keys()
        state = {n: p[index].detach().clone() for n, p in self.params_dict().items()}
        state.update({n: b[index].clone() for n, b in self.buffers_dict().items() if n in persistent})
        return state

    def member_module(self, index):
        """Member ``index`` as a module of its own: every parameter and buffer copied.

        Non-persistent buffers included (a state dict leaves them out).
        The module lives on the device of the stacked parameters.

        Examples
        --------
        >>> import torch
        >>> from torch import nn
        >>> from skal.models._stacked import StackedEnsemble
        >>> members = [nn.Linear(3, 2) for _ in range(4)]
        >>> ens = StackedEnsemble(members)
        >>> torch.equal(ens.member_module(2).weight, members[2].weight)
        True
        """
        device = next(itertools.chain(self.parameters(), self.buffers()), torch.empty(0)).device
        module = copy.deepcopy(self.template).to_empty(device=device)
        with torch.no_grad():
            for name, p in self.params_dict().items():
                module.get_parameter(name).copy_(p[index])
            for name, b in self.buffers_dict().items():
                module.get_buffer(name).copy_(b[index])
        return module

    def train(self, mode=True):
        super().train(mode)
        # Dropout/BatchNorm read `training` from the templates' submodules.
        for template in (self.template, self._stacked_template[0]):
            if template is not None:
                template.train(mode)
        return self

    # -- forward ----------------------------------------------------------
    def _call(self, module, state, x, return_embedding, kwargs, start_dim=1):
        """``module``'s forward on ``state``; with its head's input flattened from ``start_dim``."""
        if not return_embedding:
            return functional_call(module, state, (x,), kwargs)
        captured = []
        # the head's name in the member: a stacked module holds no nn.Linear
        head = module.get_submodule(find_head(self.template, return_name=True)[0])
        handle = head.register_forward_hook(lambda _m, inputs, _out: captured.append(inputs[0]))
        try:
            out = functional_call(module, state, (x,), kwargs)
        finally:
            handle.remove()
        return out, captured[0].flatten(start_dim)

    def forward(self, X, return_embedding=False, **kwargs):
        """Logits of every member, shape ``(E, batch, K)``.

        With ``return_embedding=True`` also the penultimate features (the
        input of the layer :func:`~skal.models.find_head` names), shape
        ``(E, batch, d)``. Other keyword arguments go to every member's
        ``forward`` unchanged.
        """
        params, buffers = self.params_dict(), self.buffers_dict()
        path = "vmap" if self.path == "layers" and kwargs else self.path
        if path == "layers":
            return self._call(self._stacked_template[0], (params, buffers), X, return_embedding, kwargs, 2)
        if path == "vmap":
            run = vmap(
                lambda p, b, x: self._call(self.template, (p, b), x, return_embedding, kwargs),
                in_dims=(0, 0, None),
                randomness="different",
            )
            return run(params, buffers, X)
        outs = [
            self._call(
                self.template,
                ({n: p[e] for n, p in params.items()}, {n: b[e] for n, b in buffers.items()}),
                X,
                return_embedding,
                kwargs,
            )
            for e in range(self.n_members)
        ]
        if return_embedding:
            return torch.stack([o[0] for o in outs]), torch.stack([o[1] for o in outs])
        return torch.stack(outs)
