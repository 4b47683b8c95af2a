"""A learner's ``teach``/``fit`` either succeeds whole or changes nothing.

Teaching appends to the labeled set, may train auxiliary models (a
generator, a proxy) and fits the estimator; any step can fail (a label the
model cannot take, a diverging fit, a Ctrl-C). Were the labeled set left
extended after such a failure, every later ``teach`` would fail too, on
rows and labels that no longer match. :func:`rollback_on_error` snapshots a
learner before the step and puts it back when the step raises.
"""

from __future__ import annotations

import contextlib
import copy

import numpy as np

__all__ = ["rollback_on_error"]

#: Attribute set on an object while a transaction on it is open, so that a
#: nested ``teach`` (a subclass calling its parent's) snapshots only once.
_OPEN = "_skal_transaction_open"


@contextlib.contextmanager
def rollback_on_error(obj, *, shared=()):
    """Restore ``obj``'s attributes as they were when the block raises.

    The snapshot is a deep copy of ``obj``'s attributes (its estimator's
    fitted state and random generators included), except for the objects in
    ``shared``, which are kept by reference: the labeled arrays, which a
    learner replaces and never writes into, so that they are not copied
    every round. Objects that ``obj`` holds (its estimator) get their own
    attributes back in place, so that a caller's reference to the estimator
    still sees the restored state.

    Re-entrant: inside an open transaction on ``obj`` it does nothing.

    Parameters
    ----------
    obj : object
        A learner (any object with a ``__dict__``: modAL's learners too).
    shared : iterable of object, default=()
        Objects that are only ever replaced, never modified in place.

    Examples
    --------
    >>> from skal.learners._transaction import rollback_on_error
    >>> class Box:
    ...     items = None
    >>> box = Box()
    >>> box.items = [1]
    >>> try:
    ...     with rollback_on_error(box):
    ...         box.items.append(2)
    ...         raise ValueError("the fit failed")
    ... except ValueError:
    ...     pass
    >>> box.items
    [1]
    """
    if getattr(obj, _OPEN, False):
        yield
        return
    kept = {id(item): item for item in shared if item is not None}
    saved = copy.deepcopy(vars(obj), dict(kept))
    originals = dict(vars(obj))
    setattr(obj, _OPEN, True)
    try:
        yield
    except BaseException:
        restored = _put_back(originals, saved, dict(kept))
        vars(obj).clear()
        vars(obj).update(restored)
        raise
    finally:
        vars(obj).pop(_OPEN, None)


def _is_atomic(value):
    # Replaced whole by their copy: values and buffers (a tensor's or an
    # array's data cannot be put back through attributes), classes, functions.
    return (
        not hasattr(value, "__dict__")
        or isinstance(value, (type, np.ndarray))
        or callable(value) and not hasattr(value, "get_params")
        or type(value).__module__.startswith("torch") and hasattr(value, "dim")
    )


def _put_back(original, saved, done):
    """The object graph of ``saved`` rebuilt in the ``original`` objects, where they exist.

    Where ``original`` and its snapshot ``saved`` are the same kind of
    container or object, the original gets the snapshot's contents (each
    rebuilt the same way) and is returned, so that references held elsewhere
    (the caller's estimator, a Pipeline's steps) see the restored state;
    anything else is replaced by its copy. ``done`` maps the id of each
    snapshot object already handled to what stands for it, so that shared
    references and cycles stay one object.
    """
    if id(saved) in done:
        return done[id(saved)]
    if original is saved or type(original) is not type(saved):
        done[id(saved)] = saved
        return saved
    if isinstance(saved, list):
        done[id(saved)] = original
        if len(original) == len(saved):
            original[:] = [_put_back(o, s, done) for o, s in zip(original, saved)]
        else:
            original[:] = saved
        return original
    if isinstance(saved, dict):
        done[id(saved)] = original
        items = {k: _put_back(original.get(k), v, done) for k, v in saved.items()}
        original.clear()
        original.update(items)
        return original
    if isinstance(saved, tuple) and len(original) == len(saved):
        restored = tuple(_put_back(o, s, done) for o, s in zip(original, saved))
        done[id(saved)] = restored
        return restored
    if _is_atomic(saved):
        done[id(saved)] = saved
        return saved
    done[id(saved)] = original
    state = {k: _put_back(vars(original).get(k), v, done) for k, v in vars(saved).items()}
    vars(original).clear()
    vars(original).update(state)
    return original
