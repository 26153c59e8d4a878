"""Sphinx configuration for the skxc documentation.

Build with ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
No network access is needed (intersphinx is off).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath(".."))  # import skxc from the source tree if not installed

import skxc  # noqa: E402

project = "skxc"
author = "skxc developers"
copyright = "skxc developers"
release = skxc.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
default_role = "code"  # `name` renders as inline code, never an unresolved reference

# -- autodoc / autosummary / numpydoc -----------------------------------------
autosummary_generate = True  # stubs go to docs/generated/ (git-ignored)
autosummary_imported_members = False
autodoc_default_options = {"members": False, "inherited-members": False}
autodoc_typehints = "none"  # the numpydoc Parameters sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = True

# -- HTML -------------------------------------------------------------------------
html_theme = "alabaster"
html_static_path = ["_static"]
html_title = f"skxc {release}"
html_theme_options = {
    "description": "Extreme classification for scikit-learn: adversarial softmax approximation on the CPU",
    "fixed_sidebar": True,
}
