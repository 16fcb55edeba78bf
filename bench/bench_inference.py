"""Latency and peak memory of x4 upscaling with ESRGAN's generator: fasr_nb's `upscale` against spandrel.

The network is RRDBNet(nb=23, nf=64, x4) with random weights (fixed seed), saved once in ESRGAN's original
layout (`model.1.sub.N.RDB1.conv1.0.weight`, as ESRGAN and the official FASRGAN code release it) to a temporary
file. Both sides load that same file: fasr_nb with `fasr_nb.inference.load_model`, spandrel (what ESRGAN users pick
today to load such files: chaiNNer, ComfyUI) with `ModelLoader().load_from_file`. spandrel runs its plain forward:
fp32, untiled, `model(x)` under torch.inference_mode(). fasr_nb runs `upscale` with its defaults (`default`: precision
'auto', tiles from the 2 GB budget: 314 px for this network, so a 1024x1024 input runs in 4x4 tiles of 256), and in fp32,
fp32 + channels-last, bf16 and bf16 + channels-last, where inputs larger than `--tile-from` are tiled (`--tile`, default
256, with the default 16 px context and 16 px cross-fade).

Each case runs in a fresh subprocess, so that its memory is its own, measured by the kernel's peak resident set size
(`ru_maxrss` / VmHWM): the honest number for "will it fit in RAM", since it counts PyTorch's allocator caches and
oneDNN's scratch buffers and reorders, which tracemalloc cannot see and torch has no CPU counter for. After loading
the model the child resets the kernel's peak mark (`/proc/self/clear_refs`, Linux) and notes the resident size; at
the end `peak` is the process's peak over its whole life (loading included) and `delta` the peak during the upscales
minus the resident size before them: the working memory the upscale needed (the model, torch and the input are
already in the baseline). Where the mark cannot be reset, `delta` is measured from the loading peak instead and
reads 0 when the upscale needed less than the loading had.
Latency: each process times one upscale after an untimed warm-up on a 16x16 input. The cases of a size take turns,
`--rounds` times (one round for tiled sizes), so that a change in the machine's load hits them all alike, and the
median is reported: a single process per case was measured to scatter by up to 1.4x between identical networks. The
check that matters for large images: fasr_nb's peak for the largest size stays under 4 GB.
bf16 is fast only where the CPU has native bf16 (AVX-512 BF16, AMX); elsewhere oneDNN emulates it and it is far
slower than fp32 (measured on an AVX2-only EPYC: a 64-channel 3x3 conv is 90x slower in bf16 NCHW, 7x in bf16
channels-last). The header says which kind of CPU this is; `--bf16 auto` (the default) runs the bf16 modes only
where they are native.

spandrel's untiled forward on a large input keeps several 64-channel feature maps at the output resolution
(4096x4096 for a 1024x1024 input: 4.3 GB each); it is run only if its estimated memory (three such maps) fits
`--max-gb`. Every case is also skipped, with the estimate printed, when its time estimated from the previous size
(scaled by the pixels the network processes, tile overlaps included) exceeds `--max-minutes`.

    pip install -e '.[bench]'                  # spandrel, the reference side
    python bench/bench_inference.py            # 64, 128, 256, 1024 (1024 tiled in fasr_nb): ~30 min on 2 cores
    python bench/bench_inference.py --bf16 on  # time bf16 even where it is emulated (very slow there)
    python bench/bench_inference.py --quick    # 16, 32, and 64 tiled by 32, each case capped at ~1 min
    python bench/bench_inference.py --sizes 1024 --modes default   # the default's peak memory at 1024x1024: ~3 min
"""
import argparse, json, resource, statistics, subprocess, sys, tempfile, time
from pathlib import Path

from machine import cpu_features, cpu_name, native_bf16

GB = 2**30
MEMORY_BUDGET_GB = 4.0   # fasr_nb's tiled run on the largest input must stay under this

def peak_rss() -> int:
    "Peak resident set size of this process so far, in bytes (ru_maxrss is KiB on Linux, bytes on macOS)."
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r if sys.platform == 'darwin' else r * 1024

def rss() -> int | None:
    "Current resident set size in bytes (Linux), else None."
    try:
        for line in Path('/proc/self/status').read_text().splitlines():
            if line.startswith('VmRSS:'): return int(line.split()[1]) * 1024
    except OSError: return None

def reset_peak_rss() -> bool:
    "Reset the kernel's peak-RSS mark (VmHWM, ru_maxrss) to the current RSS (Linux >= 4.0); False if not possible."
    try: Path('/proc/self/clear_refs').write_text('5'); return True
    except OSError: return False

# ---------------------------------------------------------------- child: one case, one process
def run_case(case: dict) -> dict:
    import torch
    if case['threads']: torch.set_num_threads(case['threads'])
    torch.manual_seed(0)
    size = case['size']
    x = torch.rand(1, 3, size, size)
    if case['impl'] == 'spandrel':
        from spandrel import ModelLoader
        model = ModelLoader().load_from_file(case['weights']).eval()
        run = lambda t: model(t)   # spandrel's ImageModelDescriptor: the network's forward, then clamp to [0, 1]
    else:
        from fasr_nb.inference import load_model, upscale
        model = load_model(case['weights'], device='cpu')
        if case['precision'] == 'default': run = lambda t: upscale(model, t)   # what a user gets without options
        else: run = lambda t: upscale(model, t, tile=case['tile'], precision=case['precision'], channels_last=case['channels_last'])
    import gc; gc.collect()
    load_peak = peak_rss()                        # reading the file and building the model
    reset = reset_peak_rss()                      # from here on the peak mark measures the upscale alone
    base = rss() if reset else load_peak
    with torch.inference_mode():
        run(torch.rand(1, 3, 16, 16))   # warm-up: thread pool, oneDNN kernels
        t0 = time.perf_counter(); y = run(x); seconds = time.perf_counter() - t0
    assert y.shape[-2:] == (4 * size, 4 * size), y.shape
    run_peak = peak_rss()
    return dict(ms=1000 * seconds, base=base, run_peak=run_peak, peak=max(load_peak, run_peak),
                threads=torch.get_num_threads())

# ---------------------------------------------------------------- parent
def spawn(case: dict) -> dict:
    r = subprocess.run([sys.executable, __file__, '--case', json.dumps(case)], capture_output=True, text=True)
    if r.returncode != 0:
        return dict(error=(r.stderr.strip().splitlines() or [f'exit status {r.returncode}'])[-1])
    return json.loads(r.stdout.strip().splitlines()[-1])

def make_weights(path: Path):
    "RRDBNet(nb=23) x4, fasr_nb's init with seed 0, saved in ESRGAN's original layout; and a check that both loaders agree."
    import torch
    from fasr_nb.core import set_seed
    from fasr_nb.rrdb import RRDBNet
    from fasr_nb.checkpoints import save_weights
    from fasr_nb.inference import load_model
    from spandrel import ModelLoader
    set_seed(0)
    save_weights(RRDBNet(nb=23, scale=4), path, layout='esrgan')
    ours, theirs = load_model(path, device='cpu'), ModelLoader().load_from_file(str(path)).eval()
    x = torch.rand(1, 3, 24, 24)
    with torch.inference_mode(): a, b = ours(x), theirs.model(x)
    return (a - b).abs().max().item() / b.abs().max().item(), theirs.architecture.name, (ours, theirs)

def same_process(ours, theirs, size: int = 64, rounds: int = 3) -> tuple[float, float]:
    "Median ms of the two plain fp32 forwards at `size`, alternating in this one process (no per-process scatter)."
    import torch
    x, times = torch.rand(1, 3, size, size), ([], [])
    with torch.inference_mode():
        ours(x); theirs(x)
        for _ in range(rounds):
            for f, t in zip((ours, theirs), times): t0 = time.perf_counter(); f(x); t.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times[0]), statistics.median(times[1])

def cost_factor(size: int, tile: int | None) -> float:
    "Pixels the network processes for a size x size input, relative to the untiled pass (tiles overlap)."
    if not tile: return 1.
    from fasr_nb.inference import tile_plan
    return (sum(w1 - w0 for w0, w1, _ in tile_plan(size, tile, scale=4)) / size) ** 2

MODES = [('default', 'default', None), ('fp32', 'fp32', False), ('fp32+channels_last', 'fp32', True),
         ('bf16', 'bf16', False), ('bf16+channels_last', 'bf16', True)]

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--quick', action='store_true', help='sizes 16, 32 and 64 (tiled by 32), 1 run each, 1-minute cap per case')
    p.add_argument('--sizes', type=int, nargs='+', default=None, help='input sizes (default 64 128 256 1024)')
    p.add_argument('--tile', type=int, default=256, help='fasr_nb tile for inputs from --tile-from on (default 256)')
    p.add_argument('--tile-from', type=int, default=512, help='tile inputs at least this large (default 512)')
    p.add_argument('--rounds', type=int, default=3, help='untiled sizes: fresh processes per case, taken in turns; median reported (default 3)')
    p.add_argument('--threads', type=int, default=None, help="torch threads per case (default: torch's choice)")
    p.add_argument('--max-gb', type=float, default=10., help='skip cases estimated to need more memory (default 10)')
    p.add_argument('--max-minutes', type=float, default=15., help='skip cases estimated to take longer per run (default 15)')
    p.add_argument('--bf16', choices=('auto', 'on', 'off'), default='auto',
                   help="bf16 modes: 'auto' runs them only where the CPU has native bf16 (emulated bf16 is 10-90x slower than fp32)")
    p.add_argument('--modes', nargs='+', default=None, choices=[m for m, _, _ in MODES],
                   help="fasr_nb's modes to run (default: all); spandrel's fp32 runs beside them")
    p.add_argument('--case', default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.case:
        print(json.dumps(run_case(json.loads(a.case)))); return 0
    if a.quick: sizes, a.tile, a.tile_from, a.rounds, a.max_minutes = a.sizes or [16, 32, 64], 32, 64, 1, 1.
    else: sizes = a.sizes or [64, 128, 256, 1024]

    import importlib.util, torch
    if importlib.util.find_spec('spandrel') is None:
        sys.exit("bench_inference.py compares fasr_nb with spandrel, which is not installed: pip install -e '.[bench]'")
    tmp = Path(tempfile.mkdtemp(prefix='fasr_bench_'))
    weights = tmp / 'RRDB_random_x4_esrgan_layout.pth'
    rel, arch, (ours, theirs) = make_weights(weights)
    print(f"RRDBNet nb=23 nf=64 x4, random (seed 0), ESRGAN original layout, {weights.stat().st_size / 2**20:.0f} MiB")
    print(f"spandrel loads it as {arch}; fasr_nb vs spandrel raw outputs: max |diff| / max |out| = {rel:.1e}")
    if a.threads: torch.set_num_threads(a.threads)
    n = min(sizes[0], 64); mo, mt = same_process(ours, theirs, n)
    print(f"the same fp32 forward, alternating in one process at {n}x{n}: fasr_nb {mo:.0f} ms, spandrel {mt:.0f} ms "
          f"({mt / mo:.2f}x); the table's fresh processes scatter more than that")
    del ours, theirs
    print(f"torch {torch.__version__}, {a.threads or torch.get_num_threads()} threads, {cpu_name()} "
          f"({cpu_features()})")
    print(f"each run in a fresh process, one timed upscale after a 16x16 warm-up; median over {a.rounds} round(s) taken in turns "
          f"(1 for tiled sizes); "
          f"peak = peak RSS of the process, delta = peak RSS during the upscales - RSS before them; "
          f"cases estimated above {a.max_gb:g} GB or {a.max_minutes:g} min are skipped\n")
    run_bf16 = a.bf16 == 'on' or (a.bf16 == 'auto' and native_bf16() is not False)
    hdr = f"{'input':>9s}  {'library':9s} {'mode':18s} {'tile':>5s} {'ms':>10s} {'peak MB':>8s} {'delta MB':>9s} {'speed vs spandrel':>18s}"
    print(hdr); print('-' * len(hdr))
    last = {}                     # (library, mode) -> ms per untiled-equivalent pixel at the last size run
    failures, measured = [], []
    def row(size, lib, mode, tile, r, ratio):
        print(f"{size:4d}x{size:<4d}  {lib:9s} {mode:18s} {tile or '-':>5} {r['ms']:10.0f} {r['peak'] / 2**20:8.0f} "
              f"{r['delta'] / 2**20:9.0f} {ratio:>18s}")
    def skip(size, lib, mode, tile, why): print(f"{size:4d}x{size:<4d}  {lib:9s} {mode:18s} {tile or '-':>5}    skipped: {why}")
    def too_long(key, size, tile):
        if key not in last: return None
        est = last[key] * size * size * cost_factor(size, tile) / 60000
        return f"estimated {est:.1f} min (from the last size, scaled by pixels processed)" if est > a.max_minutes else None
    from fasr_nb.inference import auto_tile
    from fasr_nb.rrdb import RRDBNet
    t_auto = auto_tile(RRDBNet(nb=1, scale=4))    # what tile='auto' picks for this network: its width and scale set it
    for size in sizes:
        tile = a.tile if size >= a.tile_from else None
        common = dict(weights=str(weights), size=size, threads=a.threads)
        cases = []                # (library, mode, tile, case): what runs at this size
        # spandrel: its plain fp32 untiled forward, if it fits
        est_gb = 3 * 64 * (4 * size)**2 * 4 / GB
        if est_gb > a.max_gb: skip(size, 'spandrel', 'fp32', None, f"needs ~{est_gb:.1f} GB (three 64x{4*size}x{4*size} fp32 feature maps)"
                                   + (f"; {w}" if (w := too_long(('spandrel', 'fp32'), size, None)) else ''))
        elif why := too_long(('spandrel', 'fp32'), size, None): skip(size, 'spandrel', 'fp32', None, why)
        else: cases.append(('spandrel', 'fp32', None, dict(common, impl='spandrel')))
        for mode, precision, cl in MODES:
            if a.modes and mode not in a.modes: continue
            if precision == 'default':   # upscale's own tile: the 2 GB budget's (None where the image is smaller)
                t = t_auto if size > t_auto else None
                if why := too_long(('fasr_nb', mode), size, t): skip(size, 'fasr_nb', mode, t, why); continue
                cases.append(('fasr_nb', mode, t, dict(common, impl='fasr_nb', tile=t, precision='default', channels_last=None)))
                continue
            if precision == 'bf16' and not run_bf16: skip(size, 'fasr_nb', mode, tile, 'no native bf16 on this CPU (--bf16 on to time it anyway)'); continue
            if why := too_long(('fasr_nb', mode), size, tile): skip(size, 'fasr_nb', mode, tile, why); continue
            cases.append(('fasr_nb', mode, tile, dict(common, impl='fasr_nb', tile=tile, precision=precision, channels_last=cl)))
        # the cases take turns, one fresh process each per round: a change in the machine's load hits them all alike
        runs = {(lib, mode): [] for lib, mode, _, _ in cases}
        for _ in range(1 if tile else a.rounds):
            for lib, mode, _, case in cases: runs[lib, mode].append(spawn(case))
        ref = None
        for lib, mode, t, _ in cases:
            rs = runs[lib, mode]
            if errs := [r['error'] for r in rs if 'error' in r]:
                print(f"{size:4d}x{size:<4d}  {lib:9s} {mode:18s} failed: {errs[0]}"); failures.append((size, lib, mode, errs[0])); continue
            r = dict(ms=statistics.median(r['ms'] for r in rs), peak=max(r['peak'] for r in rs),
                     delta=max(r['run_peak'] - r['base'] for r in rs))
            if lib == 'spandrel': ref = r
            row(size, lib, mode, t, r, f"{ref['ms'] / r['ms']:.2f}x" if ref else 'n/a')
            last[lib, mode] = r['ms'] / (size**2 * cost_factor(size, t))
            if lib == 'fasr_nb' and size == max(sizes):
                measured.append(mode)
                if r['peak'] > MEMORY_BUDGET_GB * GB: failures.append((size, mode, f"peak {r['peak'] / GB:.2f} GB > {MEMORY_BUDGET_GB:g} GB"))
    top = max(sizes)
    print(f"\nmemory check, fasr_nb at {top}x{top}{f' (tile {a.tile})' if top >= a.tile_from else ''}, "
          f"modes measured: {', '.join(measured) or 'none'}: "
          f"{'FAIL' if failures or not measured else 'PASS'}: peak RSS under {MEMORY_BUDGET_GB:g} GB")
    for f in failures: print(f"  FAIL {f}")
    for f in tmp.iterdir(): f.unlink()
    tmp.rmdir()
    return 1 if failures or not measured else 0

if __name__ == '__main__': sys.exit(main())
