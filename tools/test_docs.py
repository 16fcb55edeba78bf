"""Build the documentation site, serve it on 127.0.0.1 and load every page in headless Chromium.

    python tools/test_docs.py [--no-build] [--artefacts _artefacts]

Each page is checked for what a reader would meet:

1. no console error, no uncaught exception, no failed request, and no request that leaves 127.0.0.1 (the site
   must render offline: MathJax is served by the site itself);
2. every link inside the site leads to a file of the site, and its #anchor exists on the page it leads to;
3. every image loaded, and the page shows as many output figures as its notebook stores;
4. the math is rendered: MathJax typeset every formula without an error, and no raw `$...$`, `\\(` or `\\[`
   is left in the text outside code;
5. the figures are visible: a screenshot of each output figure is not blank.

Then the search page must find `imresize`, and the API page must link to the entry of every exported name. Screenshots of the
home page and of one chapter are saved under _artefacts/. Without Chromium (Debian's package `chromium`), the
set-up installs it where it can (root and apt-get); where it cannot, the test is skipped with one line.
The last line is `docs: N passed, N failed`, counting pages.
"""
import argparse, io, json, sys, threading, time
from pathlib import Path
from urllib.parse import urlsplit, unquote

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_docs import OUT, ROOT, SRC, build, server  # noqa: E402
from test_jupyterlab import find_chromium            # noqa: E402

CHAPTER_SHOT = '04_losses'    # the chapter whose screenshot is kept: prose, equations, code, an API entry

PAGE_STATE = r"""() => {
  const main = document.querySelector('article[role=main]') || document.body;
  const inCode = n => n.parentElement && n.parentElement.closest('pre, code, script, style, mjx-container, .highlight');
  const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT,
      {acceptNode: n => inCode(n) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
  const raw = [];
  while (walker.nextNode()) {
    const t = walker.currentNode.textContent;
    if (/\$[^$\s][^$]*\$|\\\(|\\\[|\$\$/.test(t)) raw.push(t.trim().slice(0, 80));
  }
  const maths = [...main.querySelectorAll('.math')];
  return {
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    ids: [...document.querySelectorAll('[id]')].map(e => e.id).concat([...document.querySelectorAll('a[name]')].map(a => a.name)),
    broken_images: [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src')),
    figures: main.querySelectorAll('.cell_output img').length,
    math: maths.length,
    untypeset: maths.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 60)),
    math_errors: main.querySelectorAll('mjx-merror, [data-mjx-error]').length,
    raw_tex: raw,
    entries: main.querySelectorAll('dl.py').length,
  };
}"""

def stored_figures(page: str) -> int:
    "How many output figures the staged notebook of a page stores (cells whose outputs are shown)."
    f = SRC / f'{page}.ipynb'
    if not f.exists(): return 0
    nb = json.loads(f.read_text())
    return sum('image/png' in o.get('data', {}) or 'image/jpeg' in o.get('data', {})
               for c in nb['cells'] if c['cell_type'] == 'code' and 'remove-output' not in c['metadata'].get('tags', [])
               for o in c.get('outputs', []))

def blank(png: bytes) -> bool:
    "A screenshot with (almost) a single colour."
    from PIL import Image, ImageStat
    im = Image.open(io.BytesIO(png)).convert('L')
    return max(ImageStat.Stat(im).stddev) < 3

def save_small(png: bytes, path: Path):
    "A page's screenshot as a 128-colour PNG: text stays sharp, the file is a third of the size."
    from PIL import Image
    Image.open(io.BytesIO(png)).convert('RGB').quantize(128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE) \
        .save(path, optimize=True)

def serve_site() -> tuple:
    "_docs/ served on a free port of 127.0.0.1 by a background thread; the server and its address."
    httpd = server(quiet=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f'http://127.0.0.1:{httpd.server_address[1]}'

def check(chromium: str, artefacts: Path, names: list[str]) -> tuple[dict, dict]:
    "Every page's problems (empty when it passes), and what was measured."
    from playwright.sync_api import Error as PlaywrightError, sync_playwright
    pages = sorted(p.relative_to(OUT).as_posix() for p in OUT.rglob('*.html'))
    httpd, base = serve_site()
    problems, seen, info = {p: [] for p in pages}, {}, {'figures': 0, 'math': 0, 'entries': 0}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=['--no-sandbox'])
            page = browser.new_page(viewport={'width': 1280, 'height': 900})
            current = {'page': None}
            def note(msg): problems[current['page']].append(msg)
            page.on('console', lambda m: m.type == 'error' and note(f'console error: {m.text[:200]}'))
            page.on('pageerror', lambda e: note(f'uncaught exception: {str(e)[:200]}'))
            page.on('requestfailed', lambda r: urlsplit(r.url).hostname == '127.0.0.1' and note(f'request failed: {r.url}'))
            page.on('response', lambda r: r.status >= 400 and note(f'HTTP {r.status}: {r.url}'))
            def route(r):
                if urlsplit(r.request.url).hostname == '127.0.0.1': return r.continue_()
                note(f'request outside the site (would fail offline): {r.request.url[:120]}'); r.abort()
            page.route('**/*', route)
            for name in pages:
                current['page'] = name
                page.goto(f'{base}/{name}', wait_until='load')
                try:   # Sphinx sets window.MathJax to its configuration; the script, once loaded, adds `startup`
                    page.wait_for_function('() => !window.MathJax || (MathJax.startup && MathJax.startup.promise)', timeout=15000)
                    page.evaluate('async () => { if (window.MathJax && MathJax.startup) await MathJax.startup.promise; }')
                except PlaywrightError: note('MathJax did not start within 15 s')
                s = page.evaluate(PAGE_STATE)
                seen[name] = s
                p = problems[name]
                p += [f'image not loaded: {src}' for src in s['broken_images']]
                p += [f'formula not typeset: {t!r}' for t in s['untypeset'][:5]]
                if s['math_errors']: p.append(f"{s['math_errors']} MathJax error(s)")
                p += [f'raw TeX left in the text: {t!r}' for t in s['raw_tex'][:5]]
                want = stored_figures(name.removesuffix('.html'))
                if s['figures'] != want: p.append(f"{s['figures']} output figures shown, the notebook stores {want}")
                for k, img in enumerate(page.locator('.cell_output img').all()):
                    if blank(img.screenshot()): p.append(f'output figure {k + 1} is blank on screen')
                info['figures'] += s['figures']; info['math'] += s['math']; info['entries'] += s['entries']
                if name == 'index.html' or name == f'{CHAPTER_SHOT}.html':
                    artefacts.mkdir(parents=True, exist_ok=True)
                    shot = artefacts / ('docs_home.png' if name == 'index.html' else 'docs_chapter.png')
                    page.evaluate('window.scrollTo(0, 0)'); save_small(page.screenshot(), shot)
                    info.setdefault('screenshots', []).append(str(shot.relative_to(ROOT)))
            # the search page, run by its own script on the site's index
            current['page'] = 'search.html'
            page.goto(f'{base}/search.html?q=imresize', wait_until='load')
            try: page.wait_for_selector('#search-results ul.search li', timeout=15000)
            except PlaywrightError: note('searching for `imresize` found nothing')
            hits = page.locator('#search-results ul.search li a').evaluate_all('as => as.map(a => a.href)')
            if not any('00_core.html' in h for h in hits): note(f'searching for `imresize` does not lead to 00_core: {hits[:5]}')
            info['search_hits'] = len(hits)
            browser.close()
    finally:
        httpd.shutdown()
    # links inside the site: the file exists and so does the anchor
    for name, s in seen.items():
        for href in s['links']:
            u = urlsplit(href)
            if u.hostname != '127.0.0.1': continue
            path = unquote(u.path).lstrip('/') or 'index.html'
            if path.endswith('/'): path += 'index.html'
            if not (OUT / path).is_file(): problems[name].append(f'broken link: {path}'); continue
            if u.fragment and path in seen and unquote(u.fragment) not in seen[path]['ids']:
                problems[name].append(f'broken anchor: {path}#{u.fragment}')
    linked = {unquote(urlsplit(h).fragment) for h in seen.get('api.html', {}).get('links', [])}
    missing = [n for n in names if n not in linked]
    if missing: problems['api.html'].append(f"{len(missing)} exported names have no entry linked from it: {missing[:5]}")
    info['pages'] = len(pages)
    return problems, info

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--no-build', action='store_true', help='test the site already in _docs/')
    p.add_argument('--artefacts', default='_artefacts', help='folder for the screenshots')
    a = p.parse_args()
    chromium, why = find_chromium()
    if chromium is None: print(f"SKIP  docs browser test: {why}"); return 0
    try: import playwright  # noqa: F401
    except ImportError: print("FAIL  docs browser test: playwright is missing (pip install -e '.[dev]')"); return 1
    t0, warned = time.time(), []
    if a.no_build:
        from make_docs import Book
        names = [f'{m}.{n}' for m, ns in Book().alls.items() for n in ns]
    else:
        r = build()
        names = r['names']
        print(f"  built {r['pages']} pages in {r['seconds']:.1f} s, {r['warnings']} Sphinx warnings")
        if r['warnings']: warned = Path(r['warnings_file']).read_text().strip().splitlines()
    t1 = time.time()
    problems, info = check(chromium, (ROOT / a.artefacts).resolve(), names)
    if warned: problems['(Sphinx build)'] = warned   # a warning is a page the reader would find wrong
    bad = {k: v for k, v in problems.items() if v}
    for k, v in bad.items():
        print(f"FAIL  {k}")
        for m in v[:10]: print(f"        {m}")
        if len(v) > 10: print(f"        ... and {len(v) - 10} more")
    print(f"  {info['pages']} pages, {info['figures']} output figures, {info['math']} formulas, {info['entries']} API entries, "
          f"search: {info.get('search_hits', 0)} hits; screenshots: {', '.join(info.get('screenshots', []))}")
    print(f"{'PASS' if not bad else 'FAIL'}  docs browser test: {'reading' if a.no_build else 'build'} {t1 - t0:.1f} s, "
          f"browser {time.time() - t1:.1f} s")
    print(f"docs: {len(problems) - len(bad)} passed, {len(bad)} failed")
    return 1 if bad else 0

if __name__ == '__main__': sys.exit(main())
