"""Docstring sections written once and filled in wherever they are used.

A docstring names a shared section on a line of its own, ``{section}``;
:func:`fill_sections` replaces the line with the section's text, indented
like the placeholder (lines indented under the placeholder continue the
section, e.g. a parameter's description). skorch builds
``NeuralNetClassifier.__doc__`` from ``NeuralNet.__doc__`` the same way.
The strategies' sections live in :mod:`skal.strategies._docstrings`, the
deep estimators' parameters in :data:`skal.models._base.PARAMETER_DOCS`.
"""

from __future__ import annotations

import re
import textwrap

__all__ = ["fill_sections"]

_PLACEHOLDER = re.compile(r"^(?P<indent>[ \t]*)\{(?P<key>\w+)\}[ \t]*$", re.MULTILINE)


def fill_sections(doc, sections, *, name=None, owner="a docstring"):
    """Replace every ``{key}`` line of ``doc`` by ``sections[key]``.

    Parameters
    ----------
    doc : str or None
        The docstring (``None`` under ``python -OO``, returned as is).
    sections : dict of str to str
        Section texts, unindented.
    name : str, default=None
        Replaces ``{name}`` inside the sections (e.g. the function's name in
        a shared example).
    owner : str, default="a docstring"
        Named in the error for an unknown section.

    Returns
    -------
    doc : str or None

    Examples
    --------
    >>> from skal._docstrings import fill_sections
    >>> doc = "Parameters\\n----------\\n{lr}\\n    Tune it with a grid search."
    >>> print(fill_sections(doc, {"lr": "lr : float\\n    Step size."}))
    Parameters
    ----------
    lr : float
        Step size.
        Tune it with a grid search.
    """
    if doc is None:
        return None

    def replace(match):
        key = match.group("key")
        if key not in sections:
            raise KeyError(f"{owner} names an unknown docstring section {{{key}}}.")
        text = sections[key] if name is None else sections[key].replace("{name}", name)
        return textwrap.indent(text, match.group("indent"))

    return _PLACEHOLDER.sub(replace, doc)
