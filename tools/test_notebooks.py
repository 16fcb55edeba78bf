"""Run every notebook's tests the way `nbdev-test` does, and count them.

`nbdev-test` prints only "Success."; CI wants to know how many notebooks passed and failed, so this
calls nbdev's own `test_nb` on each notebook (same flags, same working directory, same parallel pool)
and ends with the line `N passed, N failed`.

    python tools/test_notebooks.py [--flags "slow cuda"] [--n_workers 2] [notebook ...]
"""
import argparse, os, shutil, sys, tempfile, time
from pathlib import Path

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('notebooks', nargs='*', help='notebooks to test (default: every nbs/*.ipynb)')
    p.add_argument('--flags', default='', help='space-separated test flags to run that are normally skipped')
    p.add_argument('--n_workers', type=int, default=None, help='parallel notebooks (default: number of CPUs, at most 4)')
    a = p.parse_args()

    os.environ.setdefault('MPLBACKEND', 'Agg')
    # Notebooks run in parallel workers on few cores: PyTorch's OpenMP threads must sleep, not spin, while they
    # wait, or the workers starve each other (measured here: 14 s instead of 43-70 s for 08_inference under load).
    os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    import matplotlib.font_manager  # noqa: F401 (build the font cache once, before workers race to build it)

    # Every temporary file of the run goes into one folder, removed at the end whatever happened (a failing
    # notebook never reaches its clean-up cell). A notebook that passes must leave nothing in it.
    run_tmp = Path(tempfile.mkdtemp(prefix='fasr_tests_'))
    os.environ['TMPDIR'] = tempfile.tempdir = str(run_tmp)
    try: ok = run(a, run_tmp)
    finally: shutil.rmtree(run_tmp, ignore_errors=True)
    sys.exit(0 if ok else 1)

def run(a, run_tmp: Path) -> bool:
    from fastcore.parallel import parallel
    from nbdev.config import get_config
    from nbdev.test import test_nb
    cfg = get_config()
    nbs = Path(cfg.nbs_path)
    files = [Path(f).absolute() for f in a.notebooks] or sorted(f.absolute() for f in nbs.glob('*.ipynb') if not f.name.startswith('_'))
    skip = cfg.tst_flags.split() if isinstance(cfg.tst_flags, str) else list(cfg.tst_flags)
    n_workers = a.n_workers if a.n_workers is not None else min(os.cpu_count() or 1, 4)
    t0 = time.time()
    os.chdir(nbs)
    results = parallel(test_nb, files, skip_flags=skip, force_flags=a.flags.split(), n_workers=n_workers,
                       basepath=cfg.config_path, pause=0.01, progress=False)
    for f, (ok, secs) in sorted(zip(files, results), key=lambda r: r[0].name):
        print(f"{'PASS' if ok else 'FAIL'}  {f.name:40s} {secs:7.1f} s")
    n_ok = sum(ok for ok, _ in results)
    # PyTorch's own compile cache (importing torchvision creates it) is not a notebook's file
    left = sorted(p.name for p in run_tmp.iterdir() if not p.name.startswith('torchinductor_'))
    if left and n_ok == len(results):
        print(f"FAIL  the notebooks left {len(left)} temporary file(s) or folder(s) behind: {', '.join(left[:10])}")
    print(f"total {time.time()-t0:.0f} s")
    print(f"{n_ok} passed, {len(results)-n_ok} failed")
    return n_ok == len(results) and not left

if __name__ == '__main__': main()
