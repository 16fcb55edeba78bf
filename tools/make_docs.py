"""Build the documentation site from nbs/ into _docs/ with Sphinx and MyST-NB (no Quarto), or serve it.

    python tools/make_docs.py                 # build _docs/ (what `./run.sh docs` does)
    python tools/make_docs.py --serve [--port 8000]   # build, then serve _docs/ on 127.0.0.1

Whatever notebooks nbs/ holds become the chapters, in file-name order, with their stored outputs (no cell is
run). nbdev's builder is Quarto; this script applies the same conventions before Sphinx reads the notebooks,
on copies in _proc/docs (nbs/ is never written):

- nbdev's directives: `#| hide` and `#| default_exp` cells are left out, `#| echo: false` hides a cell's
  source, `#| output: false` its outputs; the other `#| ...` lines are dropped from the code shown;
- after each export cell, the API entry of every exported name it defines: its signature as written, its
  docstring and its docments (the parameters' comments), `@patch`ed methods included, as entries of Sphinx's
  Python domain (so they are indexed, searchable and linkable); the chapter is the reference;
- a name in backticks in the prose (`imresize`, `Viewer.render`, `fasr_nb.core`, `00_core`) links to its
  entry or chapter (in docstrings and docments too); links from index.ipynb to files of the repository
  (README-style) go to the repository;
- an API page lists every exported name (each module's `__all__`) with its first docstring line.

docs/conf.py holds Sphinx's settings; docs/README.md says why Sphinx and MyST-NB.
"""
import argparse, ast, copy, importlib, inspect, io, json, re, shutil, sys, time, tokenize, tomllib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))   # document this checkout's fasr_nb, whatever the environment has installed
NBS, CONF, OUT = ROOT / 'nbs', ROOT / 'docs', ROOT / '_docs'
SRC, DOCTREES = ROOT / '_proc' / 'docs', ROOT / '_proc' / 'doctrees'
_cfg = tomllib.loads((ROOT / 'pyproject.toml').read_text())
LIB = _cfg['tool']['nbdev']['lib_path']
REPO_URL = _cfg['project']['urls']['Repository']

# ---- reading the notebooks -------------------------------------------------------------------------------

_re_directive = re.compile(r'^\s*#\|\s*([\w-]+)\s*:?\s*(.*?)\s*$')

def split_directives(source: str) -> tuple[dict, str]:
    "nbdev's `#| name value` lines at the top of a code cell, as a dict, and the source without them."
    lines, found = source.splitlines(), {}
    while lines and (m := _re_directive.match(lines[0])): found[m[1]] = m[2]; lines.pop(0)
    return found, '\n'.join(lines).strip('\n')

def chapters() -> list[Path]:
    "Every notebook in nbs/, in reading (file-name) order; index.ipynb is the home page, not a chapter."
    return sorted(p for p in NBS.glob('*.ipynb') if not p.name.startswith(('_', '.')) and p.stem != 'index')

def _patch_info(fn: ast.FunctionDef) -> tuple[str | None, dict]:
    "The class a fastcore `@patch`ed function is added to (its first argument's annotation) and patch's options."
    for d in fn.decorator_list:
        f = d.func if isinstance(d, ast.Call) else d
        if isinstance(f, ast.Name) and f.id == 'patch':
            opts = {k.arg: k.value.value for k in getattr(d, 'keywords', []) if isinstance(k.value, ast.Constant)}
            args = fn.args.posonlyargs + fn.args.args
            ann = args[0].annotation if args else None
            return (ann.id if isinstance(ann, ast.Name) else None), opts
    return None, {}

def _public(name: str) -> bool: return not name.startswith('_') or name == '__call__'

def _decorated(fn, name: str) -> bool:
    return any(isinstance(d, ast.Name) and d.id == name for d in fn.decorator_list)

def _comments(source: str) -> dict[int, str]:
    "The `# comment` ending each line of a cell's source, by line number."
    out = {}
    try:
        for t in tokenize.generate_tokens(io.StringIO(source).readline):
            if t.type == tokenize.COMMENT: out[t.start[0]] = t.string.lstrip('#').strip()
    except (tokenize.TokenError, SyntaxError): pass
    return out

class Entry:
    "One documented name: its kind (function, class, method, data), where it lives, and its definition's AST."
    def __init__(self, kind, module, name, node, source, options=None):
        self.kind, self.module, self.name, self.node, self.source = kind, module, name, node, source
        self.options = options or {}
    @property
    def full(self): return f'{self.module}.{self.name}'
    def obj(self):
        o = importlib.import_module(self.module)
        for p in self.name.split('.'): o = getattr(o, p, None)
        return o

def defined(source: str, module: str) -> list[Entry]:
    "The names an export cell defines at top level (a class's documented methods follow it; `@patch`ed ones too)."
    try: tree = ast.parse(source)
    except SyntaxError: return []
    out = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            cls, opts = _patch_info(node)
            if cls: out.append(Entry('method', None, f'{cls}.{node.name}', node, source, opts))   # module: the class's
            else: out.append(Entry('function', module, node.name, node, source))
        elif isinstance(node, ast.ClassDef):
            out.append(Entry('class', module, node.name, node, source))
            for n in node.body:
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and _public(n.name) and ast.get_docstring(n):
                    opts = {'as_prop': _decorated(n, 'property'), 'cls_method': _decorated(n, 'classmethod'),
                            'static': _decorated(n, 'staticmethod')}
                    out.append(Entry('method', module, f'{node.name}.{n.name}', n, source, opts))
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                out.extend(Entry('data', module, n.id, node, source) for n in ast.walk(t) if isinstance(n, ast.Name))
    return out

class Book:
    "The chapters, their modules and every documented name, read from nbs/ and the package's `__all__`."
    def __init__(self):
        self.nbs = {p.stem: nbformat.read(str(p), as_version=4) for p in chapters()}
        self.index = nbformat.read(str(NBS / 'index.ipynb'), as_version=4)
        self.module, self.entries = {}, {}    # chapter -> module; (chapter, cell index) -> [Entry]
        self.syms, self.alls = {}, {}         # short name (`imresize`, `Viewer.render`) -> full name; module -> __all__
        classes, found = {}, []
        for stem, nb in self.nbs.items():
            exp = next((d['default_exp'] for c in nb.cells if c.cell_type == 'code'
                        for d in [split_directives(c.source)[0]] if 'default_exp' in d), None)
            if not exp: continue
            mod = f'{LIB}.{exp}'
            self.module[stem] = mod
            self.alls[mod] = list(getattr(importlib.import_module(mod), '__all__', []))
            for i, c in enumerate(nb.cells):
                d, src = split_directives(c.source) if c.cell_type == 'code' else ({}, '')
                if 'export' not in d and 'exports' not in d: continue
                for e in defined(src, mod):
                    if e.kind == 'class' and e.name in self.alls[mod]: classes[e.name] = mod
                    found.append((stem, i, e))
        for stem, i, e in found:
            if e.kind == 'method':        # documented when its class is exported (a patch may be in another chapter)
                cls, meth = e.name.split('.')
                if cls not in classes or not _public(meth): continue
                e.module = e.module or classes[cls]
            elif e.name not in self.alls[e.module]: continue
            self.entries.setdefault((stem, i), []).append(e)
            self.syms.setdefault(e.name, e.full)
        documented = {e.full for es in self.entries.values() for e in es}
        self.undocumented = {m: [n for n in names if f'{m}.{n}' not in documented] for m, names in self.alls.items()}
        self.chapter_of = {m: s for s, m in self.module.items()}

# ---- writing the sources Sphinx reads -----------------------------------------------------------------------

def _signature(e: Entry) -> str:
    "The signature as the source writes it (defaults as written, `self` left out), for Sphinx's Python domain."
    node = e.node
    if isinstance(node, ast.ClassDef):
        node = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == '__init__'), None)
        if node is None:                                   # a dataclass, or an inherited __init__
            try: return str(inspect.signature(e.obj())).replace(' -> None', '')
            except (TypeError, ValueError): return ''
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)): return ''
    args = copy.deepcopy(node.args)
    drop = e.kind == 'class' or (e.kind == 'method' and not e.options.get('static'))
    if drop: (args.posonlyargs if args.posonlyargs else args.args).pop(0)
    ret = f' -> {ast.unparse(node.returns)}' if node.returns and e.kind != 'class' else ''
    return f'({ast.unparse(args)}){ret}'

def _docments(e: Entry) -> dict[str, str]:
    "Each parameter's docment (the comment beside it), and `return`'s; a dataclass's fields' comments."
    node = e.node
    if isinstance(node, ast.ClassDef) and not any(isinstance(n, ast.FunctionDef) and n.name == '__init__' for n in node.body):
        comments = _comments(e.source)
        return {n.target.id: comments[n.lineno] for n in node.body
                if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name) and n.lineno in comments}
    try:
        from fastcore.docments import docments
        return {k: v['docment'] for k, v in docments(e.obj(), full=True).items() if v.get('docment') and k not in ('self', 'cls')}
    except Exception: return {}

def entry_md(e: Entry, book: 'Book', here: str | None) -> str:
    "The API entry of one name, as a directive of Sphinx's Python domain written in MyST."
    obj, opts = e.obj(), []
    if e.kind == 'data':
        directive, sig = 'py:data', e.name
        if len(repr(obj)) <= 80: opts.append(f':value: {obj!r}')
        comment = _comments(e.source).get(e.node.lineno, '')
        body = comment
    else:
        directive = {'function': 'py:function', 'class': 'py:class', 'method': 'py:method'}[e.kind]
        if e.options.get('as_prop'): directive = 'py:property'
        if e.options.get('cls_method'): opts.append(':classmethod:')
        if e.options.get('static'): opts.append(':staticmethod:')
        if inspect.iscoroutinefunction(obj): opts.append(':async:')
        sig = e.name + ('' if directive == 'py:property' else _signature(e))
        doc = inspect.getdoc(obj) if e.kind != 'class' else (obj.__doc__ and inspect.cleandoc(obj.__doc__))
        if e.kind == 'class' and doc and doc.startswith(f'{e.name}('): doc = None   # a dataclass's generated doc
        fields = [f':{"returns" if k == "return" else "param " + k}: {v}' for k, v in _docments(e).items()]
        body = '\n\n'.join(p for p in [doc or '', '\n'.join(fields)] if p)
    text = f':::{{{directive}}} {sig}\n:module: {e.module}\n' + ''.join(o + '\n' for o in opts)
    return text + (f'\n{linkify(body, book, here)}\n' if body else '') + ':::'

def api_cell(entries: list[Entry], book: 'Book', here: str) -> nbformat.NotebookNode:
    "A markdown cell with the API entries of the names an export cell defines."
    return nbformat.v4.new_markdown_cell('\n\n'.join(entry_md(e, book, here) for e in entries))

_re_fence = re.compile(r'^\s*(```|~~~|:::)')
_re_code = re.compile(r'(?<![\[{])`([A-Za-z_][\w.]*)(\(\))?`(?!\]\()')
_re_link = re.compile(r'(\]\()([^)\s]+)(\))')

def linkify(md: str, book: Book, here: str | None, readme_links: bool = False) -> str:
    "Link `names` in the prose to their API entries, `modules` and `chapters` to their pages; fix repo links."
    def code(m):
        name, call = m[1], m[2] or ''
        text = f'{name}{call}'
        if name in book.chapter_of: return f'[`{text}`]({book.chapter_of[name]}.ipynb)'
        if name in book.nbs and name != here: return f'[`{text}`]({name}.ipynb)'
        full = name if name.startswith(f'{LIB}.') and name.rsplit('.', 1)[0] in book.alls else None
        full = full or (f'{book.module[here]}.{name}' if here in book.module and name in book.alls[book.module[here]] else None)
        full = full or book.syms.get(name)
        return f'{{py:obj}}`{text} <{full}>`' if full else m[0]
    def link(m):
        target = m[2]
        if re.match(r'^([a-z]+:|#|/)', target): return m[0]
        path = target.split('#')[0]
        if (NBS / path).exists() and (NBS / path).resolve().is_relative_to(NBS): return m[0]
        base = ROOT if readme_links else NBS
        f = (base / path).resolve()
        if not f.exists() or not f.is_relative_to(ROOT): return m[0]
        return f'{m[1]}{REPO_URL}/{"tree" if f.is_dir() else "blob"}/main/{f.relative_to(ROOT).as_posix()}{m[3]}'
    out, fence = [], None
    for line in md.split('\n'):
        if (f := _re_fence.match(line)) and (fence is None or f[1] == fence) and not line.strip().startswith(':::{'):
            fence = f[1] if fence is None else None
        elif fence is None and not line.lstrip().startswith('#'): line = _re_link.sub(link, _re_code.sub(code, line))
        out.append(line)
    return '\n'.join(out)

def stage_notebook(stem: str, nb, book: Book) -> nbformat.NotebookNode:
    "The copy of a chapter that Sphinx reads: nbdev's directives applied, API entries added, names linked."
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    cells, module_marked = [], stem not in book.module
    for i, c in enumerate(nb.cells):
        if c.cell_type == 'markdown':
            c.source = linkify(c.source, book, stem, readme_links=stem == 'index')
            cells.append(c)
            if not module_marked and c.source.lstrip().startswith('# '):   # the title: the module's anchor after it
                cells.append(nbformat.v4.new_markdown_cell(f':::{{py:module}} {book.module[stem]}\n:::'))
                module_marked = True
            continue
        if c.cell_type != 'code': cells.append(c); continue
        d, src = split_directives(c.source)
        if {'hide', 'default_exp'} & d.keys() or d.get('include') == 'false' or not (src or c.get('outputs')): continue
        c.source = src
        tags = c.metadata.setdefault('tags', [])
        if d.get('echo') == 'false' or not src: tags.append('remove-input')
        if d.get('output') == 'false': tags.append('remove-output')
        cells.append(c)
        if (stem, i) in book.entries: cells.append(api_cell(book.entries[(stem, i)], book, stem))
    nb.cells = cells
    return nb

def api_page(book: Book) -> str:
    "A page that lists every exported name, module by module, each linked to its entry in its chapter."
    def summary(e):
        doc = inspect.getdoc(e.obj()) if e.kind != 'data' else _comments(e.source).get(e.node.lineno, '')
        return linkify((doc or '').strip().split('\n')[0], book, None).replace('|', '\\|')
    out = ['# API reference', '',
           "Every name that fasr_nb exports (each module's `__all__`), in reading order, and the methods of its classes. "
           'Each links to its entry in the chapter that defines it, beside the prose and the test that explain it. '
           'See also the {ref}`genindex`.', '']
    by_module = {}
    for es in book.entries.values():
        for e in es: by_module.setdefault(e.module, []).append(e)
    for stem, mod in book.module.items():
        out += [f'## `{mod}`', '', f'Chapter [{stem}]({stem}.ipynb).', '', '| name | |', '|---|---|']
        out += [f'| {{py:obj}}`{e.name} <{e.full}>` | {summary(e)} |' for e in by_module.get(mod, [])]
        left = book.undocumented.get(mod, [])
        if left:   # exported, but not defined by an export cell of the chapter (re-exported, or made in a loop)
            out += ['', *[entry_md(Entry('data', mod, n, ast.parse(f'{n} = None').body[0], ''), book, None) for n in left]]
        out.append('')
    return '\n'.join(out)

def _write(path: Path, text: str):
    "Write only when the text changes, so that Sphinx rebuilds only the pages whose source changed."
    if not path.exists() or path.read_text() != text: path.parent.mkdir(parents=True, exist_ok=True); path.write_text(text)

def stage(book: Book) -> list[str]:
    "Write Sphinx's sources into _proc/docs; remove those of chapters that no longer exist. The page names."
    SRC.mkdir(parents=True, exist_ok=True)
    docs = {}
    for stem, nb in book.nbs.items(): docs[f'{stem}.ipynb'] = nbformat.writes(stage_notebook(stem, nb, book))
    index = stage_notebook('index', book.index, book)
    toc = '\n'.join([*book.nbs, 'api'])
    index.cells.append(nbformat.v4.new_markdown_cell(f'```{{toctree}}\n:hidden:\n:caption: Chapters\n:maxdepth: 1\n\n{toc}\n```'))
    docs['index.ipynb'] = nbformat.writes(index)
    docs['api.md'] = api_page(book)
    for name, text in docs.items(): _write(SRC / name, text)
    for p in SRC.iterdir():           # a renamed or deleted chapter leaves nothing behind
        if p.is_file() and p.name not in docs: p.unlink()
    for p in NBS.iterdir():           # pictures and other files the notebooks link to
        if p.is_dir() and not p.name.startswith(('.', '_')):
            shutil.copytree(p, SRC / p.name, dirs_exist_ok=True)
    return [n.rsplit('.', 1)[0] for n in docs]

# ---- hooks called by Sphinx (docs/conf.py) ------------------------------------------------------------------

def copy_mathjax(app, exc):
    "Serve MathJax 3 from the site: the parts of sphinx-mathjax-offline's copy that TeX to CHTML needs."
    if exc is not None: return
    from importlib.metadata import distribution
    src = Path(distribution('sphinx-mathjax-offline').locate_file('sphinx-mathjax-offline/static/mathjax'))
    dst = Path(app.outdir) / '_static' / 'mathjax'
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / 'tex-chtml.js', dst)
    for sub in ('input', 'output/chtml', 'ui', 'a11y', 'adaptors', 'sre'):
        shutil.copytree(src / sub, dst / sub, dirs_exist_ok=True)

# ---- the commands --------------------------------------------------------------------------------------------

def build() -> dict:
    "Stage the sources and run Sphinx into _docs/. A dict of what was built."
    from sphinx.cmd.build import build_main
    t0 = time.time()
    book = Book()
    pages = stage(book)
    # Sphinx writes into _proc/site (MyST-NB puts its copies of the outputs beside it, in _proc/jupyter_execute),
    # anew each time so that no page of a removed chapter survives; the cached doctrees keep rebuilds short.
    site, warnings = ROOT / '_proc' / 'site', ROOT / '_proc' / 'sphinx-warnings.txt'
    if site.exists(): shutil.rmtree(site)
    args = ['-b', 'html', '-c', str(CONF), '-d', str(DOCTREES), '-w', str(warnings), '-j', 'auto', str(SRC), str(site)]
    rc = build_main(args + ['-q'])              # only warnings are printed
    if rc: raise SystemExit(f'Sphinx failed ({rc}); see {warnings}')
    if OUT.exists(): shutil.rmtree(OUT)
    site.rename(OUT)
    (OUT / '.nojekyll').touch()                   # GitHub Pages: serve _static/ as it is
    n_warn = len([l for l in warnings.read_text().splitlines() if 'WARNING' in l or 'ERROR' in l])
    names = [f'{m}.{n}' for m, ns in book.alls.items() for n in ns]
    return {'pages': len(pages), 'names': names, 'warnings': n_warn, 'warnings_file': str(warnings),
            'seconds': time.time() - t0}

def server(port: int = 0, quiet: bool = False):
    "An HTTP server of _docs/ on 127.0.0.1 (port 0: a free one), not yet serving."
    import functools, http.server
    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):
            if not quiet: super().log_message(*a)
    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, address):   # a browser that moved on before a file was sent is no error
            if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)): super().handle_error(request, address)
    return Server(('127.0.0.1', port), functools.partial(Handler, directory=str(OUT)))

def serve(port: int):
    with server(port) as httpd:
        print(f'Serving {OUT} on http://127.0.0.1:{httpd.server_address[1]}/ (Ctrl-C stops)', flush=True)
        try: httpd.serve_forever()
        except KeyboardInterrupt: pass

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--serve', action='store_true', help='after the build, serve _docs/ on 127.0.0.1')
    p.add_argument('--port', type=int, default=8000)
    a = p.parse_args()
    r = build()
    print(f"built {r['pages']} pages ({len(r['names'])} exported names) into {OUT} in {r['seconds']:.0f} s; "
          f"{r['warnings']} Sphinx warnings" + (f" (in {r['warnings_file']})" if r['warnings'] else ''))
    if a.serve: serve(a.port)

if __name__ == '__main__': main()
