"""E copies of one torch module run as a single vectorised module.

The members' parameters are stacked along a leading dimension of size E and
one ``torch.func.vmap`` over ``functional_call`` runs every member in a
single forward/backward, instead of E sequential nets. The skorch net that
trains a :class:`~skal.models.DeepProbabilisticEnsemble` wraps this module,
so skorch's loop, callbacks and optimisers see one ordinary module whose
output has shape ``(E, batch, K)``.
"""

from __future__ import annotations

import copy
import itertools

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from ._modules import find_head

__all__ = ["StackedEnsemble"]


def _key(name):
    # ParameterDict keys may not contain dots.
    return name.replace(".", "__")


class StackedEnsemble(nn.Module):
    """Run E members of one architecture as one vectorised module.

    Parameters
    ----------
    members : list of torch.nn.Module
        Members with identical structure; their current values become the
        stacked parameters (the members themselves are not kept).
    vectorize : bool, default=True
        ``True`` runs the members with ``torch.func.vmap``; ``False`` loops
        over them (for modules that vmap cannot batch, and as a baseline).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from skal.models._stacked import StackedEnsemble
    >>> ens = StackedEnsemble([nn.Linear(3, 2) for _ in range(4)])
    >>> ens(torch.zeros(5, 3)).shape
    torch.Size([4, 5, 2])
    """

    def __init__(self, members, vectorize=True):
        super().__init__()
        if len(members) < 1:
            raise ValueError("StackedEnsemble needs at least one member.")
        params, buffers = stack_module_state(members)
        self.n_members = len(members)
        self.vectorize = vectorize
        self.param_names = list(params)
        self.buffer_names = list(buffers)
        self.stacked_params = nn.ParameterDict(
            {_key(k): nn.Parameter(v.detach().clone()) for k, v in params.items()}
        )
        for k, v in buffers.items():
            self.register_buffer("stacked__" + _key(k), v.clone())
        # The template only gives the computation its structure: functional_call
        # swaps in the stacked tensors, so its own storage can live on "meta".
        # A list keeps it out of parameters(), state_dict() and .to().
        self._template = [copy.deepcopy(members[0]).to("meta")]

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
        # Dropout/BatchNorm read `training` from the template's submodules.
        self.template.train(mode)
        return self

    # -- forward ----------------------------------------------------------
    def _call(self, params, buffers, x, return_embedding, kwargs):
        if not return_embedding:
            return functional_call(self.template, (params, buffers), (x,), kwargs)
        captured = []
        handle = find_head(self.template).register_forward_hook(
            lambda _m, inputs, _out: captured.append(inputs[0])
        )
        try:
            out = functional_call(self.template, (params, buffers), (x,), kwargs)
        finally:
            handle.remove()
        return out, captured[0].flatten(1)

    def forward(self, X, return_embedding=False, **kwargs):
        """Logits of every member, shape ``(E, batch, K)``.

        With ``return_embedding=True`` also the penultimate features,
        shape ``(E, batch, d)``. Other keyword arguments go to every
        member's ``forward`` unchanged.
        """
        params, buffers = self.params_dict(), self.buffers_dict()
        if self.vectorize:
            run = vmap(
                lambda p, b, x: self._call(p, b, x, return_embedding, kwargs),
                in_dims=(0, 0, None),
                randomness="different",
            )
            return run(params, buffers, X)
        outs = [
            self._call(
                {n: p[e] for n, p in params.items()},
                {n: b[e] for n, b in buffers.items()},
                X,
                return_embedding,
                kwargs,
            )
            for e in range(self.n_members)
        ]
        if return_embedding:
            return torch.stack([o[0] for o in outs]), torch.stack([o[1] for o in outs])
        return torch.stack(outs)
