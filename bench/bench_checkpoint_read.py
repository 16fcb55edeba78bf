"""Reading a training checkpoint for its recipe only (what a resume checks first, and what the rollback after a
non-finite loss reports): `read_checkpoint` reading every tensor against mapping them (`mmap=True`), on a checkpoint
the size of FASRGAN's (RRDBNet nb=23 and the UNet discriminator, with both Adam states: about 1 GB). Interleaved in one
process, median of the rounds; the file is in the page cache after the first round, so the figures are the copy, not
the disk.

    python bench/bench_checkpoint_read.py [--mb 1000] [--rounds 3]
"""
import argparse, os, shutil, statistics, tempfile, time
from pathlib import Path
import torch
from machine import cpu_name
from fasr_nb.checkpoints import read_checkpoint, save_weights

def recipe_of(path, mmap: bool) -> float:
    t = time.perf_counter()
    ck = read_checkpoint(path, mmap=mmap); _ = ck['extra']['recipe']['name']
    return time.perf_counter() - t

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--mb', type=int, default=1000); p.add_argument('--rounds', type=int, default=3)
    a = p.parse_args()
    d = Path(tempfile.mkdtemp(prefix='fasr_bench_ck_'))
    try:
        n = a.mb * 2**20 // 4 // 100                      # 100 float32 tensors
        state = {'net_g': {f'w{i}': torch.rand(n) for i in range(100)}, 'extra': {'recipe': {'name': 'fasrgan'}}}
        path = save_weights(state, d / 'latest.pth'); del state
        print(f"{cpu_name()}, {os.cpu_count()} cores; a {path.stat().st_size / 2**20:.0f} MB checkpoint in {d}")
        full, mapped = [], []
        for _ in range(a.rounds): full.append(recipe_of(path, False)); mapped.append(recipe_of(path, True))
        f, m = statistics.median(full), statistics.median(mapped)
        print(f"its recipe, every tensor read: {f * 1e3:8.1f} ms\nits recipe, tensors mapped:    {m * 1e3:8.1f} ms   ({f / m:.0f}x)")
    finally: shutil.rmtree(d, ignore_errors=True)
