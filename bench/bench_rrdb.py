"""Time ESRGAN's generator (RRDBNet, nb=23, x4) on the CPU in four modes and compare their outputs.

Modes: fp32 (NCHW), fp32 channels_last, bf16 autocast, bf16 autocast + channels_last. Each mode gets
`--warmup` untimed runs, then the median of `--repeats` timed forward passes under torch.inference_mode().
The bf16 error is the largest absolute difference from the fp32 output, on the [0,1] image scale.

    python bench/bench_rrdb.py [--size 64] [--repeats 5] [--threads 2] [--bf16 auto|on|off] [--weights FILE]

Without --weights the network has fasr_nb's default init (Kaiming x 0.1, seed 0): its output is tiny
(about 1e-4), so the absolute bf16 error is tiny too; the relative error column (max |diff| / max |fp32 output|)
is the comparable number. With a trained checkpoint (any layout fasr_nb reads) both are meaningful.
"""
import argparse, copy, os, statistics, time
from contextlib import nullcontext
from pathlib import Path

import torch

from fasr_nb.core import read_image, set_seed
from fasr_nb.rrdb import RRDBNet

from machine import cpu_features, cpu_name, native_bf16

MODES = [('fp32 NCHW', False, False), ('fp32 channels_last', True, False),
         ('bf16 autocast', False, True), ('bf16 + channels_last', True, True)]

def test_image(size: int) -> torch.Tensor:
    "A size x size RGB crop of Set5's baby (512x512) when the repository's data is there, else uniform noise."
    f = Path(__file__).resolve().parents[1] / 'data' / 'Set5' / 'HR' / 'baby.png'
    if f.exists() and size <= 512:
        img = read_image(f)[:, :3]
        t = (img.shape[-2] - size) // 2; l = (img.shape[-1] - size) // 2
        return img[..., t:t + size, l:l + size].contiguous()
    return torch.rand(1, 3, size, size)

def run_mode(net, x, channels_last: bool, bf16: bool, warmup: int, repeats: int):
    "Median forward time in ms and the (float32, NCHW) output."
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = copy.deepcopy(net).to(memory_format=fmt)
    x = x.contiguous(memory_format=fmt)
    ctx = torch.autocast('cpu', dtype=torch.bfloat16) if bf16 else nullcontext()
    times = []
    with torch.inference_mode(), ctx:
        for _ in range(warmup): out = net(x)
        for _ in range(repeats):
            t0 = time.perf_counter(); out = net(x); times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times), out.float().contiguous()

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--size', type=int, default=64, help='LR input height and width in pixels (default 64 -> 256x256 out)')
    p.add_argument('--repeats', type=int, default=5, help='timed runs per mode; the median is reported (default 5)')
    p.add_argument('--warmup', type=int, default=2, help='untimed runs per mode before timing (default 2)')
    p.add_argument('--threads', type=int, default=None, help='torch intra-op threads (default: torch\'s choice)')
    p.add_argument('--weights', default=None, help='an RRDBNet checkpoint to time instead of the default init')
    p.add_argument('--bf16', choices=('auto', 'on', 'off'), default='auto',
                   help="bf16 modes: 'auto' runs them only where the CPU has native bf16 (emulated bf16 can be 20x slower than fp32)")
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    set_seed(0)
    if a.weights:
        from fasr_nb.checkpoints import load_rrdbnet
        net, what = load_rrdbnet(a.weights).eval(), Path(a.weights).name
    else: net, what = RRDBNet(nb=23, scale=4).eval(), 'default init, seed 0'
    x = test_image(a.size)
    print(f"RRDBNet nb={len(net.body)} x{net.scale} ({what}), input 1x3x{a.size}x{a.size} -> "
          f"{a.size * net.scale}x{a.size * net.scale}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {cpu_name()} ({cpu_features()})")
    print(f"warm-up {a.warmup}, median of {a.repeats}, torch.inference_mode()")
    load, ncpu = (os.getloadavg()[0] if hasattr(os, 'getloadavg') else 0.), os.cpu_count() or 1
    if load > 0.5 * ncpu: print(f"warning: load average {load:.1f} on {ncpu} CPUs: other processes compete, timings are inflated")
    print()
    print(f"{'mode':22s} {'ms':>9s} {'speed-up':>9s} {'max|diff|':>10s} {'relative':>9s}")
    run_bf16 = a.bf16 == 'on' or (a.bf16 == 'auto' and native_bf16() is not False)
    ref_ms = ref = None
    for name, cl, bf16 in MODES:
        if bf16 and not run_bf16:
            print(f"{name:22s} {'skipped: no native bf16 on this CPU (--bf16 on to time it anyway)':>40s}"); continue
        ms, out = run_mode(net, x, cl, bf16, a.warmup, a.repeats)
        if ref is None: ref_ms, ref = ms, out
        diff = (out - ref).abs().max().item()
        print(f"{name:22s} {ms:9.1f} {ref_ms / ms:8.2f}x {diff:10.2e} {diff / ref.abs().max().item():9.2e}")
    print(f"\nfp32 output range [{ref.min().item():.3g}, {ref.max().item():.3g}]")

if __name__ == '__main__': main()
