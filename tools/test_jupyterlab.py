"""Open a notebook in JupyterLab in headless Chromium, run all its cells, and check what a reader meets.

    python tools/test_jupyterlab.py [NOTEBOOK ...] [--python PYTHON] [--screenshot _artefacts/jupyterlab_viewer.png]

JupyterLab serves a scratch copy of nbs/ on 127.0.0.1 (beside links to the clone's other folders, so relative
paths hold, and the repository's files are never saved over) and runs each notebook given (default: 10_visualize, the
one with the interactive viewer). The checks:

1. the notebook opens onto its kernel, with no "Select Kernel" dialog;
2. "Run All" runs every code cell, and none has an error output;
3. where the notebook shows the comparison viewer, it is a live widget: dragging its swipe slider changes its image (a round trip to the kernel);
4. the viewer fits a 1440x900 window: its image and its controls are on screen together, the image as wide as
   the viewer's `width`.

A screenshot of the viewer is saved. Without Chromium (Debian's package `chromium`), the set-up installs it where
it can (root and apt-get); where it cannot, the test is skipped with one line saying why.
"""
import argparse, json, os, secrets, shutil, socket, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def find_chromium() -> tuple[str | None, str]:
    "Chromium's path, installing Debian's package when missing and possible; else (None, why)."
    for name in ('chromium', 'chromium-browser', 'google-chrome'):
        if shutil.which(name): return shutil.which(name), ''
    if os.geteuid() != 0 or not shutil.which('apt-get'):
        return None, "Chromium is not installed and cannot be (needs root and apt-get): apt-get install chromium"
    print("Installing Chromium (Debian's package) for the browser test...", file=sys.stderr)
    env = {**os.environ, 'DEBIAN_FRONTEND': 'noninteractive'}
    r = subprocess.run(['apt-get', 'install', '-y', '-q', 'chromium'], capture_output=True, text=True, env=env)
    if r.returncode != 0:                               # a fresh machine's package lists may be missing or stale
        subprocess.run(['apt-get', 'update', '-q'], capture_output=True, env=env)
        r = subprocess.run(['apt-get', 'install', '-y', '-q', 'chromium'], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        return None, f"apt-get install chromium failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}"
    return shutil.which('chromium'), ''

def free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def start_lab(ws: Path, port: int, token: str, python: str = sys.executable) -> subprocess.Popen:
    "JupyterLab on 127.0.0.1 serving `ws`, with the app exposed to page scripts and no autosave."
    for plugin, value in (('docmanager-extension/plugin', {'autosave': False}),          # never save over the copy
                          ('apputils-extension/notification', {'fetchNews': 'false'})):  # no news pop-up over the page
        f = ws / '.lab-settings' / '@jupyterlab' / f'{plugin}.jupyterlab-settings'
        f.parent.mkdir(parents=True, exist_ok=True); f.write_text(json.dumps(value))
    env = {**os.environ, 'JUPYTER_CONFIG_DIR': str(ws / '.jupyter'), 'JUPYTER_RUNTIME_DIR': str(ws / '.runtime'),
           'MPLBACKEND': 'module://matplotlib_inline.backend_inline'}
    cmd = [python, '-m', 'jupyterlab', '--no-browser', '--ServerApp.ip=127.0.0.1', f'--ServerApp.port={port}',
           f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={ws}', '--LabApp.expose_app_in_browser=True',
           *(['--allow-root'] if os.geteuid() == 0 else []),
           f'--LabApp.user_settings_dir={ws / ".lab-settings"}', f'--LabApp.workspaces_dir={ws / ".lab-workspaces"}']
    proc = subprocess.Popen(cmd, cwd=ws, env=env, stdout=subprocess.DEVNULL, stderr=open(ws / 'lab.log', 'w'))
    for _ in range(120):
        try:
            urllib.request.urlopen(f'http://127.0.0.1:{port}/api/status?token={token}', timeout=1); return proc
        except OSError: time.sleep(0.5)
        if proc.poll() is not None: break
    raise RuntimeError(f"JupyterLab did not start: {(ws / 'lab.log').read_text()[-2000:]}")

# JavaScript run in the page, through the JupyterLab app object (exposed by --LabApp.expose_app_in_browser)
JS_STATE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!w || !w.content || !w.sessionContext) return null;
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  const cells = w.content.widgets.filter(c => c.model.type === 'code');
  return {kernel: k ? k.status : null, kernelName: k ? k.name : null, n: cells.length,
          ran: cells.filter(c => c.model.executionCount !== null).length,
          errors: cells.map((c, i) => [i, c.model.outputs.toJSON().filter(o => o.output_type === 'error')
                                          .map(o => o.ename + ': ' + o.evalue)]).filter(e => e[1].length)};
}"""

def wait(page, cond, what: str, timeout: float):
    "Poll `cond(state)` until true; the state at the end."
    t0 = time.time()
    while True:
        try: s = page.evaluate(JS_STATE)
        except Exception: s = None                          # the page is still navigating (?reset redirects)
        if s is not None and cond(s): return s
        if time.time() - t0 > timeout: raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; state {s}")
        time.sleep(0.5)

def run_notebook(page, base: str, name: str, height: int, width: int, viewer_width: int, shot: Path, timeout: float) -> dict:
    "Open nbs/`name` in JupyterLab, run all its cells, check what a reader meets; a dict of what was seen."
    res = {}
    page.goto(f'{base}/lab/tree/nbs/{name}?reset')               # ?reset: no tabs restored from before
    t0 = time.time()
    s = wait(page, lambda s: s['kernel'] == 'idle', 'the kernel to start', 120)
    time.sleep(1)                                       # a kernel dialog would be up by now
    dialogs = page.locator('.jp-Dialog').all_inner_texts()
    assert not any('Select Kernel' in d for d in dialogs), f"{name}: a 'Select Kernel' dialog appeared: {dialogs}"
    res['kernel'] = f"{s['kernelName']}, started in {time.time() - t0:.1f} s, no dialog"
    t0 = time.time()
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    # done when every cell ran, or when the kernel is idle with an error (Run All stops at the first one)
    s = wait(page, lambda s: s['kernel'] == 'idle' and (s['ran'] == s['n'] or s['errors']), f'every cell of {name} to run', timeout)
    res['seconds'] = round(time.time() - t0, 1)
    res['run_all'] = f"{s['n']} code cells in {res['seconds']} s"
    assert not s['errors'], f"{name}: error outputs: {s['errors']}"
    sliders = page.locator('.widget-slider', has_text='swipe')
    if sliders.count(): res.update(check_viewer(page, sliders, height, width, viewer_width, shot))
    return res

def check_viewer(page, sliders, height: int, width: int, viewer_width: int, shot: Path) -> dict:
    "The comparison viewer: live (a drag of its swipe slider re-renders the image) and laid out to fit the window."
    res = {}
    box = page.locator('.widget-hbox', has=sliders).first          # the outermost box: image, swipe, controls
    img = box.locator('img.widget-image')
    img.scroll_into_view_if_needed()
    bb, ib = box.bounding_box(), img.bounding_box()
    res['layout'] = f"viewer {bb['width']:.0f}x{bb['height']:.0f} px, image {ib['width']:.0f}x{ib['height']:.0f} px"
    assert bb['height'] <= height and bb['width'] <= width, f"the viewer does not fit a {width}x{height} window: {res['layout']}"
    assert abs(ib['width'] - viewer_width) <= 1, f"the image is shown {ib['width']:.0f} px wide, not the viewer's width {viewer_width}"
    track = box.locator('.widget-slider', has_text='swipe').locator('.noUi-base')
    box.scroll_into_view_if_needed()
    tb = track.bounding_box()
    assert tb['width'] >= 0.9 * viewer_width, f"the swipe slider is {tb['width']:.0f} px long, the image {viewer_width}"
    before_src, before_png = img.get_attribute('src'), img.screenshot()
    hb = box.locator('.widget-slider', has_text='swipe').locator('.noUi-handle').bounding_box()
    page.mouse.move(hb['x'] + hb['width'] / 2, hb['y'] + hb['height'] / 2); page.mouse.down()
    page.mouse.move(tb['x'] + 0.15 * tb['width'], hb['y'] + hb['height'] / 2, steps=8); page.mouse.up()
    t1 = time.time()
    while img.get_attribute('src') == before_src and time.time() - t1 < 10: time.sleep(0.05)
    assert img.get_attribute('src') != before_src, "dragging the swipe slider did not change the viewer's image"
    res['swipe'] = f"a drag of the swipe slider re-rendered the image within {1000 * (time.time() - t1):.0f} ms"
    time.sleep(0.3)
    assert img.screenshot() != before_png, "the viewer's image looks the same after the swipe moved"
    box.scroll_into_view_if_needed()
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot))
    res['screenshot'] = str(shot)
    return res

_NOT_LINKED = {'nbs', 'fasr_nb', 'pyproject.toml', 'runs', '_docs', '_proc', '_artefacts'}   # copied, exported into, or written

def check(chromium: str, notebooks: list[Path], shot: Path, python: str = sys.executable, width: int = 1440,
          height: int = 900, viewer_width: int = 384, timeout: float = 900) -> dict:
    "Each notebook in JupyterLab (served from a scratch copy of nbs/), run all, checked: {name: what was seen}."
    from playwright.sync_api import sync_playwright
    ws = Path(tempfile.mkdtemp(prefix='fasr_lab_'))
    lab = None
    try:
        shutil.copytree(ROOT / 'nbs', ws / 'nbs')
        for p in ROOT.iterdir():                   # the rest of the clone, linked (data/, weights/, bench/, ...), except
            if p.name not in _NOT_LINKED and not p.name.startswith('.'): (ws / p.name).symlink_to(p)   # what gets written
        shutil.copy(ROOT / 'pyproject.toml', ws)   # the notebooks' last cell runs nbdev_export(): it writes into ws
        port, token = free_port(), secrets.token_hex(16)
        lab = start_lab(ws, port, token, python)
        base, out = f'http://127.0.0.1:{port}', {}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=['--no-sandbox'])
            context = browser.new_context(viewport={'width': width, 'height': height})
            context.new_page().goto(f'{base}/lab?token={token}')          # logs in: the token becomes a cookie
            for nb in notebooks:                                           # a fresh page and workspace each
                page = context.new_page()
                out[nb.name] = run_notebook(page, base, nb.name, height, width, viewer_width, shot, timeout)
                page.close(); stop_kernels(base, token)
            browser.close()
        return out
    finally:
        if lab is not None:
            lab.terminate()
            try: lab.wait(10)
            except subprocess.TimeoutExpired: lab.kill()
        shutil.rmtree(ws, ignore_errors=True)

def stop_kernels(base: str, token: str):
    "Shut down every kernel the server runs (one notebook at a time keeps memory low)."
    hdr = {'Authorization': f'token {token}'}
    for k in json.load(urllib.request.urlopen(urllib.request.Request(f'{base}/api/kernels', headers=hdr))):
        urllib.request.urlopen(urllib.request.Request(f"{base}/api/kernels/{k['id']}", headers=hdr, method='DELETE'))

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('notebooks', nargs='*', default=['nbs/10_visualize.ipynb'], help='notebooks to run (default: 10_visualize)')
    p.add_argument('--screenshot', default='_artefacts/jupyterlab_viewer.png')
    p.add_argument('--python', default=sys.executable, help="the Python that runs JupyterLab and the kernels (e.g. another venv's)")
    a = p.parse_args()
    chromium, why = find_chromium()
    if chromium is None: print(f"SKIP  JupyterLab browser test: {why}"); return 0
    try: import playwright  # noqa: F401
    except ImportError: print("FAIL  JupyterLab browser test: playwright is missing (pip install -e '.[dev]')"); return 1
    t0, names = time.time(), ', '.join(Path(n).name for n in a.notebooks)
    try: res = check(chromium, [(ROOT / n).resolve() for n in a.notebooks], (ROOT / a.screenshot).resolve(), a.python)
    except AssertionError as e: print(f"FAIL  JupyterLab browser test: {e}"); return 1
    for nb, r in res.items():
        print(f"  {nb}: " + '; '.join(f"{k} {v}" for k, v in r.items() if k != 'seconds'))
    print(f"PASS  JupyterLab browser test ({names}) {time.time() - t0:.1f} s")
    return 0

if __name__ == '__main__': sys.exit(main())
