"""Sphinx configuration: builds offline with ``python -m sphinx -b html docs docs/_build/html``."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

import skal

project = "skal"
author = "skal developers"
copyright = "2026, skal developers"
release = skal.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
]

# The API pages are written by hand with automodule/autosummary tables: no
# generated stub files to keep in git.
autosummary_generate = False
# Members are listed explicitly in api.rst: scikit-learn's generated
# set_*_request methods would otherwise flood the reference.
autodoc_default_options = {"inherited-members": False, "show-inheritance": False}
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()

templates_path = []
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
html_theme = "alabaster"
html_theme_options = {"description": "scikit-learn-compatible active learning", "fixed_sidebar": True}
html_static_path = []
# Offline build: never reach out for inventories.
intersphinx_mapping = {}
