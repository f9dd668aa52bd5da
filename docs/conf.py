"""Sphinx configuration of the skgd documentation.

Build with ``python -m sphinx -W -b html docs docs/_build/html`` from the
repository root. The API reference is generated from the numpydoc docstrings
of the source tree next to this folder; the figures in ``images/`` are
made by the scripts in ``examples/`` (see ``examples.rst``), so the build
runs no example.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # document this tree, not an installed copy

import skgd  # noqa: E402

project = "skgd"
author = "the skgd developers"
copyright = "the skgd developers, BSD-3-Clause"
release = version = skgd.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
]

root_doc = "index"
exclude_patterns = ["_build"]
templates_path = []
html_static_path = []
html_theme = "alabaster"
html_title = f"skgd {release}"

# numpydoc renders the Parameters/Attributes sections; the methods are listed
# by autodoc's :members: in api.rst, so numpydoc's own member tables are off.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
autodoc_member_order = "bysource"
autodoc_typehints = "none"
