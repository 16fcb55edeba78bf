"""Does `upscale`'s default precision ('auto') give the same image as fp32? Set5 PSNR of both, against HR.

For each generator checkpoint given (any layout fasr_nb reads), the five Set5 images are made LR (MATLAB bicubic,
8-bit), upscaled twice with `fasr_nb.inference.upscale`, once with precision='fp32' (exact fp32, NCHW) and once
with the defaults ('auto': bf16 + channels-last on a CPU with native bf16), both rounded to 8 bits as they would
be written, and scored as the paper's tables are (PSNR on Y, 4-pixel border). The criterion for making 'auto' the
default: the two Set5 means within 0.02 dB. Also reported: the largest difference of one pixel between the two
outputs, in 8-bit levels, the share of pixels that differ at all, and the PSNR of the 'auto' output against the fp32
output (Y, same border): how close the two pictures are, where the difference of the PSNRs against HR can hide
errors that go both ways.

    python bench/check_auto_precision.py runs/demo/net_g_gan.pth [more checkpoints ...]
    python bench/check_auto_precision.py --engine openvino runs/demo/net_g_gan.pth   # OpenVINO's 'auto' against torch fp32

Exit status 1 when a checkpoint misses the criterion.
"""
import argparse, sys
from pathlib import Path

import torch

from fasr_nb.core import get_device
from fasr_nb.evaluation import sr_images
from fasr_nb.inference import auto_precision, load_model, upscale
from fasr_nb.metrics import psnr

from machine import cpu_features, cpu_name

SET5 = Path(__file__).resolve().parents[1] / 'data' / 'Set5' / 'HR'
BOUND_DB = 0.02

def check(weights: str, device, engine: str) -> bool:
    model = load_model(weights, device=device)
    fast = model
    if engine == 'openvino':
        from fasr_nb.engines import openvino_model
        fast = openvino_model(model)
        print(f"OpenVINO: {fast!r}")
    rows, worst, differ, total = [], 0, 0, 0
    images = lambda run: sr_images(run, SET5, scale=model.scale, device=device)   # the tables' protocol: 8-bit LR and SR
    for (name, exact, hr), (_, auto, _) in zip(images(lambda lr: upscale(model, lr, precision='fp32')), images(lambda lr: upscale(fast, lr))):
        d = ((exact - auto).abs() * 255).round()
        worst, differ, total = max(worst, int(d.max())), differ + int((d > 0).sum()), total + d.numel()
        rows.append((name, psnr(exact, hr, 4, True).item(), psnr(auto, hr, 4, True).item(), psnr(auto, exact, 4, True).item()))
    n = sum(p.numel() for p in model.parameters())
    print(f"\n{weights} ({n / 1e6:.2f} M parameters)")
    print(f"{'image':10} {'fp32 dB':>9} {'auto dB':>9} {'auto - fp32':>12} {'auto vs fp32 output':>20}")
    for name, a, b, c in rows: print(f"{name:10} {a:9.4f} {b:9.4f} {b - a:+12.4f} {c:17.2f} dB")
    ma, mb, mc = (sum(r[i] for r in rows) / len(rows) for i in (1, 2, 3))
    ok = abs(mb - ma) <= BOUND_DB
    print(f"{'Set5 mean':10} {ma:9.4f} {mb:9.4f} {mb - ma:+12.4f} {mc:17.2f} dB   {'within' if ok else 'OUTSIDE'} {BOUND_DB} dB")
    print(f"largest pixel difference {worst} levels of 255; {100 * differ / total:.2f}% of values differ")
    return ok

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('weights', nargs='+', help='generator checkpoints')
    p.add_argument('--device', default='cpu')
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--engine', choices=('torch', 'openvino'), default='torch', help="the engine of the 'auto' side")
    a = p.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    device = get_device(a.device)
    print(f"{cpu_name()} ({cpu_features()}), torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"precision 'auto' on {device}: {auto_precision(device)}")
    ok = [check(w, device, a.engine) for w in a.weights]
    sys.exit(0 if all(ok) else 1)

if __name__ == '__main__': main()
