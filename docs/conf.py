"""Sphinx configuration of the documentation site (built by `./run.sh docs`, see docs/README.md).

The sources are not nbs/ itself but the copies that tools/make_docs.py prepares in _proc/docs (nbdev's
directives applied, API entries after each export cell, names in the prose linked to them); this file only
says how Sphinx renders them.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools'))
import make_docs  # noqa: E402

project = 'fasr_nb'
author = 'fasr_nb developers'
copyright = '2024-2025, fasr_nb developers'
root_doc = 'index'

extensions = ['myst_nb', 'sphinx.ext.mathjax']

# The notebooks carry their outputs: the site shows them and never runs a cell.
nb_execution_mode = 'off'
nb_output_stderr = 'show'
nb_merge_streams = True
nb_render_markdown_format = 'myst'
myst_enable_extensions = ['dollarmath', 'amsmath', 'colon_fence', 'fieldlist']
myst_heading_anchors = 3
suppress_warnings = ['myst.header']     # chapters may open a section below the title's level

# MathJax 3 served from the site itself (sphinx-mathjax-offline ships its files on PyPI): pages render offline.
mathjax_path = 'mathjax/tex-chtml.js'

add_module_names = False
smartquotes = False                     # docments and docstrings quote code: '...' and ... stay as written
python_display_short_literal_types = True

html_theme = 'furo'
html_title = 'fasr_nb'
html_static_path = ['_static']
html_css_files = ['fasr.css']
html_show_sourcelink = False
html_copy_source = False
exclude_patterns = ['_build', '**.ipynb_checkpoints']

def setup(app):
    app.connect('build-finished', make_docs.copy_mathjax)
