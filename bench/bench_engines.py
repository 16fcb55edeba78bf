"""ESRGAN's generator on the CPU through each engine: PyTorch eager (fp32, channels-last, bf16), torch.compile, OpenVINO.

The network is RRDBNet(nb=23, nf=64, x4) with fasr_nb's init (seed 0), or a checkpoint (`--weights`, any layout
fasr_nb reads). Candidates, at each input size:

  torch fp32             the plain forward, NCHW: the baseline every ratio is taken against
  torch fp32 + CL        channels-last memory format
  torch bf16 + CL        bf16 autocast, channels-last
  upscale's default      `fasr_nb.inference.upscale(model, x)` with no options: precision 'auto' (here bf16 + CL with
                         conv_first in fp32), tile 'auto' (whole at these sizes), the output clamped to [0, 1] (its
                         difference is taken from the clamped fp32 output)
  torch.compile bf16+CL  the same under torch.compile(dynamic=False), compiled for that one shape (--compile: about
                         a minute per shape; its compile time is printed on a line of its own)
  OpenVINO f32 / bf16    `fasr_nb.engines.openvino_model`: converted once with dynamic height and width, so both sizes
                         go through one compiled model per precision; run in a worker process (see OpenVINOWorker)
  spandrel fp32          the same weights loaded by spandrel (what ESRGAN users load such files with), if installed

The candidates of a size take turns within each round (`--repeats` rounds after `--warmup` untimed ones), so that a
change in the machine's load hits them alike; the median is reported, as ms and as speed-up over torch fp32. The last
column is each output's largest difference from torch fp32's, relative to the largest fp32 output (fasr_nb's random
init outputs about 1e-4, so only the relative figure compares); with `--weights` the PSNR against torch fp32's output
is printed too. bf16 runs only where the CPU has native bf16 (`--bf16 on` times it anyway). OpenVINO converts into a
temporary cache folder, removed at the end, so its conversion time is measured each run.

    pip install -e ".[openvino,bench]"
    python bench/bench_engines.py                        # 64 and 128: ~5 min on 2 cores
    python bench/bench_engines.py --compile              # + torch.compile: ~2 more minutes
    python bench/bench_engines.py --weights RRDB_ESRGAN_x4.pth
    python bench/bench_engines.py --quick                # a tiny network at 16 and 24, to check that it runs
"""
import argparse, copy, importlib.util, multiprocessing as mp, shutil, statistics, sys, tempfile, time
from contextlib import nullcontext
from pathlib import Path

import torch

from fasr_nb.core import set_seed
from fasr_nb.rrdb import RRDBNet

from bench_rrdb import test_image
from machine import cpu_features, cpu_name, native_bf16

def torch_candidate(net, channels_last: bool, bf16: bool, compile_: bool = False):
    "A forward of a copy of `net` in that memory format and precision: x -> float32 NCHW output."
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = copy.deepcopy(net).to(memory_format=fmt)
    if compile_: model = torch.compile(model, dynamic=False)   # one graph per input shape
    ctx = (lambda: torch.autocast('cpu', dtype=torch.bfloat16)) if bf16 else nullcontext
    def run(x):
        with torch.inference_mode(), ctx(): return model(x.contiguous(memory_format=fmt)).float().contiguous()
    return run

def spandrel_candidate(net, tmp: Path):
    "spandrel's model of the same weights (saved in ESRGAN's original layout, as released), its plain forward."
    from spandrel import ModelLoader
    from fasr_nb.checkpoints import save_weights
    save_weights(net, tmp / 'net.pth', layout='esrgan')
    model = ModelLoader().load_from_file(str(tmp / 'net.pth')).model.eval()
    def run(x):
        with torch.inference_mode(): return model(x)
    return run

class OpenVINOWorker:
    """The OpenVINO candidates, run in a process of their own and called in turn with the others.

    PyTorch's OpenMP threads and OpenVINO's threads, in one process, take each other's cores: OpenMP's threads spin for a
    while after each parallel region (measured on 2 cores: OpenVINO bf16 1.3x torch fp32 with PyTorch's default
    waiting, 3.8x with OMP_WAIT_POLICY=PASSIVE, which in turn slowed PyTorch's bf16 by 60%). In two processes each
    engine keeps its own pools at their defaults; the parent sends an input, the worker times one call and sends back
    the time and the output, so the candidates still take turns and a change in the machine's load hits them alike."""
    def __init__(self, weights: Path, precisions, threads: int, cache: Path):
        ctx = mp.get_context('spawn')
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_openvino_worker, args=(child, str(weights), list(precisions), threads, str(cache)), daemon=True)
        self.proc.start()
        self.reports = self.conn.recv()                       # [(name, what happened)] or an exception
        if isinstance(self.reports, Exception): raise self.reports
    def candidate(self, name: str):
        def run(x):
            self.conn.send((name, x)); ms, y = self.conn.recv(); run.ms = ms; return y
        return run
    def close(self): self.conn.send(None); self.proc.join(10)

def _openvino_worker(conn, weights: str, precisions, threads: int, cache: str):
    import torch
    from fasr_nb.engines import openvino_model
    from fasr_nb.inference import load_model
    try:
        torch.set_num_threads(threads)
        net, engines, reports = load_model(weights, device='cpu'), {}, []
        for prec in precisions:
            t0 = time.perf_counter()
            e = openvino_model(net, precision=prec, threads=threads, cache_dir=Path(cache))
            engines[f"OpenVINO {'f32' if prec == 'fp32' else 'bf16'}"] = e
            reports.append(f"OpenVINO {e.precision}: {'converted, saved and compiled' if not reports else 'read from the cache and compiled'} "
                           f"in {time.perf_counter() - t0:.1f} s (in its own process)")
        conn.send(reports)
    except Exception as e: conn.send(e); return
    while (msg := conn.recv()) is not None:
        name, x = msg
        t0 = time.perf_counter(); y = engines[name](x); ms = 1000 * (time.perf_counter() - t0)
        conn.send((ms, y))

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--sizes', type=int, nargs='+', default=None, help='LR input sizes (default 64 128)')
    p.add_argument('--repeats', type=int, default=5, help='timed rounds; the median is reported (default 5)')
    p.add_argument('--warmup', type=int, default=2, help='untimed rounds first (default 2)')
    p.add_argument('--threads', type=int, default=None, help="threads for PyTorch and OpenVINO (default: torch's choice)")
    p.add_argument('--weights', default=None, help='a generator checkpoint to time instead of the random init')
    p.add_argument('--compile', action='store_true', help='also time torch.compile (bf16 + channels-last), ~1 min per size')
    p.add_argument('--bf16', choices=('auto', 'on', 'off'), default='auto',
                   help="bf16 candidates: 'auto' runs them only where the CPU has native bf16 (emulated bf16 is far slower)")
    p.add_argument('--goal', type=float, default=2.8, help='speed-up of OpenVINO bf16 over torch fp32 to check (default 2.8)')
    p.add_argument('--goal-default', type=float, default=2.2, help="speed-up of upscale's default over torch fp32 to check (default 2.2)")
    p.add_argument('--quick', action='store_true', help='a tiny network (nb=1, nf=16) at 16 and 24, 1 warm-up, 3 rounds')
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    if a.quick: a.sizes, a.warmup, a.repeats = a.sizes or [16, 24], 1, 3
    sizes = a.sizes or [64, 128]
    try: import openvino
    except ImportError: sys.exit("bench_engines.py times OpenVINO, which is not installed: pip install -e '.[openvino]'")

    set_seed(0)
    if a.weights:
        from fasr_nb.inference import load_model
        net, what = load_model(a.weights, device='cpu'), Path(a.weights).name
    elif a.quick: net, what = RRDBNet(nf=16, nb=1, gc=8, scale=4).eval(), 'tiny: nf=16, nb=1, gc=8; seed 0'
    else: net, what = RRDBNet(nb=23, scale=4).eval(), "fasr_nb's init, seed 0"
    run_bf16 = a.bf16 == 'on' or (a.bf16 == 'auto' and native_bf16() is not False)
    threads = torch.get_num_threads()
    print(f"RRDBNet x{net.scale} ({what}), {sum(p.numel() for p in net.parameters()):,} parameters")
    print(f"torch {torch.__version__}, OpenVINO {openvino.__version__}, {threads} threads, {cpu_name()} ({cpu_features()})")
    print(f"warm-up {a.warmup}, median of {a.repeats} rounds; the candidates take turns within each round "
          "(OpenVINO's in a process of its own, so that the two engines' thread pools do not compete)")

    tmp = Path(tempfile.mkdtemp(prefix='fasr_bench_engines_'))
    try:
        cands = {'torch fp32': torch_candidate(net, False, False), 'torch fp32 + CL': torch_candidate(net, True, False)}
        if run_bf16: cands['torch bf16 + CL'] = torch_candidate(net, True, True)
        from fasr_nb.inference import upscale
        default_net = copy.deepcopy(net)
        cands["upscale's default"] = lambda x: upscale(default_net, x)
        from fasr_nb.checkpoints import save_weights
        save_weights(net, tmp / 'net.safetensors')
        worker = OpenVINOWorker(tmp / 'net.safetensors', ('fp32', 'bf16') if run_bf16 else ('fp32',), threads, tmp / 'openvino')
        for line in worker.reports: print(line)
        for name in ('OpenVINO f32', 'OpenVINO bf16')[:2 if run_bf16 else 1]: cands[name] = worker.candidate(name)
        if importlib.util.find_spec('spandrel') is not None:
            try: cands['spandrel fp32'] = spandrel_candidate(net, tmp)
            except Exception as e: print(f"spandrel cannot load this network ({type(e).__name__}): its row is left out")
        else: print("spandrel is not installed (pip install -e '.[bench]'): its row is left out")
        if not run_bf16: print("no native bf16 on this CPU: the bf16 candidates are left out (--bf16 on times them anyway)")
        print()
        hdr = f"{'input':>9s}  {'candidate':24s} {'ms':>9s} {'vs fp32':>8s} {'rel. diff':>10s}" + ('  PSNR vs fp32' if a.weights else '')
        print(hdr); print('-' * len(hdr))
        checks = []
        for size in sizes:
            x = test_image(size)
            here = dict(cands)
            if a.compile and run_bf16:
                here['torch.compile bf16 + CL'] = compiled = torch_candidate(net, True, True, compile_=True)
                t0 = time.perf_counter(); compiled(x)
                print(f"{'':9s}  torch.compile at {size}x{size}: first call (compilation) {time.perf_counter() - t0:.1f} s")
            outs, times = {}, {name: [] for name in here}
            for _ in range(a.warmup):
                for name, f in here.items(): outs[name] = f(x)
            for _ in range(a.repeats):
                for name, f in here.items():
                    t0 = time.perf_counter(); outs[name] = f(x); ms = 1000 * (time.perf_counter() - t0)
                    times[name].append(getattr(f, 'ms', ms))   # the worker's own timing of the call, without the pipe
            ref, ref_ms = outs['torch fp32'], statistics.median(times['torch fp32'])
            for name in here:
                r = ref.clamp(0, 1) if name == "upscale's default" else ref
                ms, diff = statistics.median(times[name]), (outs[name] - r).abs().max().item()
                line = f"{size:4d}x{size:<4d}  {name:24s} {ms:9.1f} {ref_ms / ms:7.2f}x {diff / ref.abs().max().item():10.1e}"
                if a.weights:
                    mse = (outs[name].clamp(0, 1) - ref.clamp(0, 1)).pow(2).mean().item()
                    line += f"  {10 * torch.log10(torch.tensor(1 / mse)).item():8.2f} dB" if mse else f"  {'inf':>8s} dB"
                print(line)
            for name, goal in (('OpenVINO bf16', a.goal), ("upscale's default", a.goal_default)):
                if name in here: checks.append((size, name, goal, ref_ms / statistics.median(times[name])))
        if checks: print()
        for size, name, goal, speedup in checks:
            print(f"goal at {size}x{size}: {name} {speedup:.2f}x torch fp32 (goal {goal:g}x): {'PASS' if speedup >= goal else 'FAIL'}")
    finally:
        if 'worker' in locals(): worker.close()
        shutil.rmtree(tmp, ignore_errors=True)

if __name__ == '__main__': sys.exit(main())
