"""Time fasr_nb's metrics on one 512x512 image: PSNR and SSIM (NumPy and PyTorch), NIQE and Ma et al.'s features.

The HR image is scikit-image's astronaut (512x512 RGB); the "SR" image is its MATLAB-bicubic x1/4 -> x4 round
trip, rounded to 8 bits (fixed, no randomness involved). Every metric is computed as `fasr evaluate` computes it:
Y channel, 4-pixel border cropped, float64. The NumPy functions take the uint8 arrays; the PyTorch ones (N,C,H,W)
float32 tensors in [0,1], on the CPU and, when one is present, on the GPU (timed with synchronisation). The
no-reference metrics (NIQE, Ma's feature extraction; Ma's regression needs the authors' model file and takes
microseconds) run on the SR image; their value column is NIQE and the number of Ma features (138).

Each row: one untimed warm-up, then the median (and min) of `--repeats` timed runs (NIQE and Ma: `--repeats-slow`).

    python bench/bench_metrics.py                # ~1 minute on 2 cores
    python bench/bench_metrics.py --quick        # 3 runs, 1 for the slow metrics: ~15 s
"""
import argparse, statistics, time

import torch

from fasr_nb.core import imresize, set_seed, to_uint
from fasr_nb.metrics import calculate_psnr, calculate_ssim, psnr, ssim
from fasr_nb.niqe import ma_features, niqe

from machine import cpu_name

def timed(fn, repeats: int, sync=lambda: None) -> tuple[float, float, object]:
    "(median s, min s, last result) of `repeats` timed calls after one warm-up."
    out = fn(); sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter(); out = fn(); sync(); times.append(time.perf_counter() - t)
    return statistics.median(times), min(times), out

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--repeats', type=int, default=7, help='timed runs of PSNR/SSIM (default 7)')
    p.add_argument('--repeats-slow', type=int, default=3, help='timed runs of NIQE and Ma (default 3)')
    p.add_argument('--threads', type=int, default=None, help='torch threads (default: torch default)')
    p.add_argument('--quick', action='store_true', help='3 runs, 1 for the slow metrics')
    a = p.parse_args()
    if a.quick: a.repeats, a.repeats_slow = 3, 1
    if a.threads: torch.set_num_threads(a.threads)
    set_seed(0)

    from skimage import data
    hr8 = data.astronaut()                                                    # (512, 512, 3) uint8
    hr = torch.from_numpy(hr8).permute(2, 0, 1)[None].float() / 255.
    sr8 = to_uint(imresize(imresize(hr.double(), 1 / 4), 4))                  # bicubic round trip, 8-bit
    sr = torch.from_numpy(sr8).permute(2, 0, 1)[None].float() / 255.

    rows = []
    def add(name, device, fn, repeats, sync=lambda: None):
        med, best, val = timed(fn, repeats, sync)
        rows.append((name, device, repeats, med, best, float(val)))
    add('PSNR  numpy (uint8)', 'cpu', lambda: calculate_psnr(sr8, hr8, 4, True), a.repeats)
    add('SSIM  numpy (uint8)', 'cpu', lambda: calculate_ssim(sr8, hr8, 4, True), a.repeats)
    add('PSNR  torch', 'cpu', lambda: psnr(sr, hr, 4, True).item(), a.repeats)
    add('SSIM  torch', 'cpu', lambda: ssim(sr, hr, 4, True).item(), a.repeats)
    b8 = lambda t: t.expand(8, -1, -1, -1)
    add('SSIM  torch, batch of 8 (per image)', 'cpu', lambda: ssim(b8(sr), b8(hr), 4, True)[0].item(), a.repeats)
    rows[-1] = rows[-1][:3] + (rows[-1][3] / 8, rows[-1][4] / 8, rows[-1][5])
    if torch.cuda.is_available():
        srg, hrg, sync = sr.cuda(), hr.cuda(), torch.cuda.synchronize
        add('PSNR  torch', 'cuda', lambda: psnr(srg, hrg, 4, True)[0], a.repeats, sync)
        add('SSIM  torch', 'cuda', lambda: ssim(srg, hrg, 4, True)[0], a.repeats, sync)
    add('NIQE', 'cpu', lambda: niqe(sr, crop_border=4), a.repeats_slow)
    add("Ma's features (value: their count)", 'cpu', lambda: sum(len(f) for f in ma_features(sr, crop_border=4)), a.repeats_slow)

    print(f"fasr_nb metrics on a 512x512 image (astronaut, Y channel, crop 4); {cpu_name()}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads"
          + (f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ''))
    print(f"{'metric':38s} {'device':6s} {'runs':>4s} {'median ms':>10s} {'min ms':>9s}   value")
    for name, dev, n, med, best, val in rows:
        print(f"{name:38s} {dev:6s} {n:4d} {med * 1e3:10.1f} {best * 1e3:9.1f}   {val:.6f}")
    # the two implementations agree; NIQE of a blurred image is high
    assert abs(rows[0][5] - rows[2][5]) < 1e-5 and abs(rows[1][5] - rows[3][5]) < 1e-7

if __name__ == '__main__': main()
