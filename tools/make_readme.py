"""Write README.md from nbs/index.ipynb without Quarto (nbdev-readme needs Quarto, which is not installable here).

    python tools/make_readme.py           # write README.md
    python tools/make_readme.py --check   # exit 1 if README.md does not match nbs/index.ipynb

Cells marked `#| hide` are left out; other nbdev directive lines (`#| ...`) are stripped; outputs are kept
as text (images are not embedded, so the README stays light). Links to pictures beside the notebook
(`](images/...)`) are rewritten to `](nbs/images/...)`, where they are from the README at the top.
"""
import copy, sys
from pathlib import Path

import nbformat
from nbconvert import MarkdownExporter

ROOT = Path(__file__).resolve().parents[1]

def readme_text(nb_path=ROOT / 'nbs' / 'index.ipynb') -> str:
    nb = nbformat.read(str(nb_path), as_version=4)
    nb = copy.deepcopy(nb); cells = []
    for c in nb.cells:
        if c.cell_type == 'code':
            lines = c.source.splitlines()
            if any(l.strip().replace(' ', '') in ('#|hide', '#|exporti', '#|export') for l in lines): continue
            c.source = '\n'.join(l for l in lines if not l.lstrip().startswith('#|')).strip()
            c.outputs = [o for o in c.outputs if o.get('output_type') == 'stream' or 'text/plain' in o.get('data', {})]
            for o in c.outputs:
                if 'data' in o: o['data'] = {'text/plain': o['data']['text/plain']}
        elif c.cell_type == 'markdown': c.source = c.source.replace('](images/', '](nbs/images/')
        cells.append(c)
    nb.cells = cells
    body, _ = MarkdownExporter().from_notebook_node(nb)
    note = "<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->\n\n"
    return note + body.strip() + '\n'

if __name__ == '__main__':
    text, readme = readme_text(), ROOT / 'README.md'
    if '--check' in sys.argv:
        if not readme.exists() or readme.read_text() != text:
            sys.exit("README.md is out of date with nbs/index.ipynb: run `python tools/make_readme.py`")
        print("README.md matches nbs/index.ipynb")
    else:
        readme.write_text(text); print(f"wrote {readme}")
