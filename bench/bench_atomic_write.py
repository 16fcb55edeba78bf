"""The cost of `core.atomic_write` per file as a folder fills up, with its stale-temporary sweep done once per folder
(what it does) against a sweep before every write (what it avoided: listing the folder each time grows with the
number of files, so writing N files costs N^2). Both write the same 1-byte files, interleaved in one process.

    python bench/bench_atomic_write.py [--files 1000 4000]
"""
import argparse, os, shutil, statistics, tempfile, time
from pathlib import Path
from machine import cpu_name
import fasr_nb.core as core

def write_all(n: int, sweep_each: bool) -> float:
    "Milliseconds per write of `n` files into a fresh folder."
    d = Path(tempfile.mkdtemp(prefix='fasr_bench_aw_'))
    try:
        t = time.perf_counter()
        for i in range(n):
            if sweep_each: core._SWEPT.discard(d)
            core.atomic_write(d / f'{i:06d}.txt', lambda p: p.write_bytes(b'x'))
        return (time.perf_counter() - t) / n * 1e3
    finally: shutil.rmtree(d, ignore_errors=True)

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--files', type=int, nargs='+', default=[1000, 4000])
    p.add_argument('--rounds', type=int, default=3)
    a = p.parse_args()
    print(f"{cpu_name()}, {os.cpu_count()} cores; temporary folder {tempfile.gettempdir()}")
    print(f"{'files':>7s} {'sweep once per folder':>22s} {'sweep every write':>18s} {'ratio':>6s}   (ms per write, median of {a.rounds})")
    for n in a.files:
        once, each = [], []
        for _ in range(a.rounds): once.append(write_all(n, False)); each.append(write_all(n, True))
        m1, m2 = statistics.median(once), statistics.median(each)
        print(f"{n:7d} {m1:22.3f} {m2:18.3f} {m2 / m1:6.1f}")
