"""A first run on a CUDA GPU: what the CPU-only tests cannot show, checked and measured in one go (under 8 minutes).

Each section prints its results, or a line `FAILED <section>: <error>` and goes on to the next, so one failure hides
nothing else; the script is meant to run once, unattended, and its output to be pasted into bench/README.md.

 1. the machine: torch and CUDA versions, the GPU, TF32 settings, native bf16;
 2. the notebooks' cells flagged `cuda` (07a: fp16/bf16 training steps, 08: tiled inference on the GPU);
 3. upscaling an Urban100-size image (256x192 -> 1024x768) with RRDBNet (nb=23): fp32 (TF32 on, then off), fp16 and
    bf16 with channels-last, `upscale()` end to end, and torch.compile with CUDA graphs (compile time on its own line);
 4. training each recipe at batch 16, patch 128 in fp32, bf16 and fp16 (+ channels-last): it/s and peak memory,
    whether every loss stayed finite, and how many steps the fp16 loss scalers skipped;
 5. the host syncs of two training iterations (`torch.cuda.set_sync_debug_mode('warn')`), by source line;
 6. two ranks on one GPU under torchrun (Gloo) with a shared extractor: are their weights identical?
 7. a 2+2-iteration run resumed against a straight 4: exact or not, with `train.deterministic` off and on;
 8. a GPU checkpoint (fp16) resumed on the CPU in fp32;
 9. an out-of-memory error forced in tiled inference: does the message give the hint?

    python bench/bench_gpu.py [--iters 200] [--skip notebooks compile ...]

Without a CUDA GPU it says so and exits with status 0. VGG19's and other ImageNet weights are not needed (random).
"""
import argparse, contextlib, io, math, os, subprocess, sys, tempfile, time, traceback, warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
import torch

SECTIONS = ('notebooks', 'upscale', 'compile', 'train', 'syncs', 'torchrun', 'resume', 'cpu_resume', 'oom')
BUDGET = 7.5 * 60          # seconds: later sections are skipped (and say so) once the script has run this long
T0 = time.perf_counter()


def section(name, title, args):
    "Decorator: run a section unless skipped or out of time; print FAILED and the error instead of stopping."
    def run(f):
        print(f"\n== {title}", flush=True)
        if name in args.skip: print(f"SKIPPED {name}: --skip"); return
        if time.perf_counter() - T0 > BUDGET: print(f"SKIPPED {name}: the time budget of {BUDGET:.0f} s is spent"); return
        t = time.perf_counter()
        try: f()
        except Exception as e:
            print(f"FAILED {name}: {type(e).__name__}: {e}")
            traceback.print_exc(limit=4, file=sys.stdout)
        finally:
            torch.cuda.synchronize(); torch.cuda.empty_cache()
            print(f"({name}: {time.perf_counter() - t:.0f} s)", flush=True)
    return run


def timed_ms(f, warmup=3, iters=10) -> float:
    "Median milliseconds of f() on the GPU."
    for _ in range(warmup): f()
    times = []
    for _ in range(iters):
        torch.cuda.synchronize(); t = time.perf_counter(); f(); torch.cuda.synchronize()
        times.append((time.perf_counter() - t) * 1000)
    return sorted(times)[len(times) // 2]


def machine():
    from fasr_nb.core import native_cuda_bf16
    p = torch.cuda.get_device_properties(0)
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}; "
          f"{torch.cuda.device_count()} GPU(s): {p.name}, compute capability {p.major}.{p.minor}, {p.total_memory / 2**30:.0f} GiB")
    print(f"TF32: cudnn.allow_tf32={torch.backends.cudnn.allow_tf32} (fp32 convolutions in TF32), "
          f"cuda.matmul.allow_tf32={torch.backends.cuda.matmul.allow_tf32}")
    print(f"bf16: native {native_cuda_bf16()}, supported with emulation {torch.cuda.is_bf16_supported()}")


def notebooks(args):
    nbs = sorted(str(p) for p in (REPO / 'nbs').glob('*.ipynb') if '#| cuda' in p.read_text())
    print('notebooks with cuda cells:', ', '.join(Path(n).name for n in nbs))
    res = subprocess.run([sys.executable, str(REPO / 'tools' / 'test_notebooks.py'), '--flags', 'cuda', '--n_workers', '2', *nbs],
                         cwd=REPO, capture_output=True, text=True, timeout=240)
    print('\n'.join(l for l in res.stdout.splitlines() if l.startswith(('PASS', 'FAIL', 'total')) or 'passed' in l))
    if res.returncode: print(f"FAILED notebooks (exit {res.returncode}):\n{(res.stdout + res.stderr)[-3000:]}")


def big_generator():
    from fasr_nb.rrdb import RRDBNet
    torch.manual_seed(0)
    return RRDBNet(nf=64, nb=23, gc=32).cuda().eval().requires_grad_(False)


def upscale_speed(args):
    from fasr_nb.core import precision_context
    from fasr_nb.inference import upscale
    net, x = big_generator(), torch.rand(1, 3, 192, 256, device='cuda')
    rows = []
    with torch.no_grad():
        for prec, cl, tf32 in (('fp32', False, True), ('fp32', False, False), ('fp32', True, True), ('fp16', True, True), ('bf16', True, True)):
            old = torch.backends.cudnn.allow_tf32
            torch.backends.cudnn.allow_tf32 = tf32
            try:
                m = net.to(memory_format=torch.channels_last if cl else torch.contiguous_format)
                xi = x.contiguous(memory_format=torch.channels_last) if cl else x
                def fwd():
                    with precision_context(prec, 'cuda'): return m(xi)
                ms = timed_ms(fwd)
            finally: torch.backends.cudnn.allow_tf32 = old
            rows.append((prec, cl, tf32, ms))
            print(f"  forward {prec}{' + channels_last' if cl else ''}{'' if prec != 'fp32' else ' (TF32 on)' if tf32 else ' (TF32 off)'}: "
                  f"{ms:.2f} ms per 256x192 -> 1024x768 image", flush=True)
    cpu_img = torch.rand(1, 3, 192, 256)
    ms = timed_ms(lambda: upscale(net, cpu_img, precision='fp16', channels_last=True), warmup=2, iters=5)
    print(f"  upscale() end to end, fp16 + channels_last, image from and to CPU memory: {ms:.2f} ms")
    print(f"  goal: under 10 ms per Urban100 image on an H100/H200-class GPU (the paper: 357 ms for ESRGAN on an RTX 2080)")


def compiled_speed(args):
    from fasr_nb.core import precision_context
    net = big_generator().to(memory_format=torch.channels_last)
    x = torch.rand(1, 3, 192, 256, device='cuda').contiguous(memory_format=torch.channels_last)
    cnet = torch.compile(net, mode='reduce-overhead')          # Inductor + CUDA graphs, one static shape
    def fwd():
        with torch.no_grad(), precision_context('fp16', 'cuda'): return cnet(x).clone()
    t = time.perf_counter(); fwd(); fwd(); torch.cuda.synchronize()
    print(f"  torch.compile(mode='reduce-overhead') compile time: {time.perf_counter() - t:.1f} s (one shape)")
    print(f"  forward fp16 + channels_last, compiled + CUDA graphs: {timed_ms(fwd):.2f} ms per image")


class RandomPatches(torch.utils.data.Dataset):
    "Random (LR, HR) pairs: the data pipeline is not what is measured."
    def __init__(self, patch, scale=4, n=256): self.patch, self.scale, self.n = patch, scale, n
    def __len__(self): return self.n
    def __getitem__(self, i):
        p = self.patch
        return {'lr': torch.rand(3, p // self.scale, p // self.scale), 'hr': torch.rand(3, p, p)}


def recipe_stage(name, iters, batch=16, patch=128):
    "The adversarial stage of a recipe at full size, on random patches, VGG19 random: (net_g, Stage)."
    from fasr_nb.config import load_recipe
    from fasr_nb.recipes import build_networks, build_objective
    from fasr_nb.trainer import Stage, stream_loader
    from fasr_nb.losses import DiscriminatorObjective
    from fasr_nb.sharing import generator_parameters, discriminator_parameters
    r = load_recipe(name, [f'train.patch={patch}'])
    st = next(s for s in r.stages if s.get('discriminator'))
    torch.manual_seed(0)
    g, d = build_networks(r)
    obj_g = build_objective({**st['objective'], 'vgg': 'random'})
    adam = lambda ps, lr: torch.optim.Adam(ps, lr=lr, betas=tuple(r.train['betas']))
    dl = stream_loader(RandomPatches(patch, r.get('scale', 4)), batch, pin_memory=True)
    return g, Stage(st['name'], iters, dl, obj_g, adam(generator_parameters(g), st['lr_g']), net_d=d,
                    obj_d=DiscriminatorObjective.for_generator(obj_g), opt_d=adam(discriminator_parameters(d), st.get('lr_d', st['lr_g'])))


def train_speed(args):
    from fasr_nb.trainer import Trainer, Callback, DistEnv, NonFiniteLossError
    from fasr_nb.callbacks import MixedPrecision, ChannelsLast
    class Clock(Callback):
        order = 100
        def __init__(self, skip): self.skip, self.t0 = skip, None
        def after_batch(self, t):
            if t.iteration == self.skip: torch.cuda.synchronize(); self.t0 = time.perf_counter()
        def after_fit(self, t): torch.cuda.synchronize(); self.secs = time.perf_counter() - self.t0
    print(f"  batch 16, HR patch 128, {args.iters} iterations of the adversarial stage (it/s over the last {args.iters - 20})")
    for name in ('fasrgan', 'fs_srgan', 'fa_fs_srgan'):
        for prec in ('fp32', 'bf16', 'fp16'):
            try:
                g, st = recipe_stage(name, args.iters)
                clock, mp = Clock(20), MixedPrecision(prec)
                cbs = [clock, mp] + ([ChannelsLast()] if prec != 'fp32' else [])
                torch.cuda.reset_peak_memory_stats()
                finite = 'finite losses'
                try: Trainer(g, [st], cbs, env=DistEnv(device=torch.device('cuda'))).fit()
                except NonFiniteLossError as e: finite = f'NON-FINITE: {e}'
                its = (args.iters - 20) / clock.secs if clock.t0 and hasattr(clock, 'secs') else float('nan')
                skips = ''
                if prec == 'fp16':   # a skipped step halves the scale (growth only every 2000 steps)
                    skips = ', scaler skips ' + ', '.join(f"{k} {round(math.log2(65536 / s.get_scale()))}" for k, s in mp.trainer.scalers.items())
                print(f"  {name:12s} {prec}{' + cl' if prec != 'fp32' else '     '}: {its:6.2f} it/s, peak "
                      f"{torch.cuda.max_memory_allocated() / 2**30:5.1f} GiB, {finite}{skips}", flush=True)
            except Exception as e: print(f"FAILED train {name} {prec}: {type(e).__name__}: {e}")
            finally: torch.cuda.empty_cache()


def host_syncs(args):
    from collections import Counter
    from fasr_nb.trainer import Trainer, Callback, DistEnv, host_reads
    from fasr_nb.callbacks import MixedPrecision, ChannelsLast, EMA
    class Watch(Callback):
        order = -100
        def before_batch(self, t):
            if t.iteration == 2: torch.cuda.set_sync_debug_mode('warn')
        def after_batch(self, t):
            if t.iteration == 4: torch.cuda.set_sync_debug_mode(0)
    for prec in ('bf16', 'fp16'):
        g, st = recipe_stage('fasrgan', 4, batch=4)
        with warnings.catch_warnings(record=True) as caught, host_reads() as reads:
            warnings.simplefilter('always')
            try: Trainer(g, [st], [Watch(), MixedPrecision(prec), ChannelsLast(), EMA(0.999)], env=DistEnv(device=torch.device('cuda'))).fit()
            finally: torch.cuda.set_sync_debug_mode(0)
        syncs = Counter(f"{Path(w.filename).name}:{w.lineno}" for w in caught if 'synchroniz' in str(w.message))
        print(f"  {prec} + channels_last + EMA, iterations 3-4: {sum(syncs.values())} synchronizing CUDA calls: "
              + (', '.join(f'{k} x{v}' for k, v in syncs.most_common()) or 'none'))
        print(f"    values read by fasr_nb in all 4 iterations (host_reads): {len(reads)}: {', '.join(sorted(set(reads)))}")


TORCHRUN_SCRIPT = r'''
import sys, torch
from pathlib import Path
from fasr_nb.core import set_seed
from fasr_nb.rrdb import RRDBNet
from fasr_nb.discriminators import UNetDiscriminator
from fasr_nb.sharing import SharedExtractor, share_features
from fasr_nb.losses import GeneratorObjective, DiscriminatorObjective
from fasr_nb.trainer import Trainer, Stage, stream_loader, init_distributed
sys.path.insert(0, sys.argv[2]); from bench_gpu import RandomPatches
env = init_distributed('cuda', backend='gloo')       # two ranks on one GPU: NCCL refuses that, Gloo does not
set_seed(0)
g, d = share_features(SharedExtractor(nf=32, ne=1, gc=16), RRDBNet(in_nc=32, nf=32, nb=2, gc=16), UNetDiscriminator(in_nc=32, nf=16, input_size=64))
obj = GeneratorObjective.fasrgan(percep=0)
adam = lambda m: torch.optim.Adam(m.parameters(), lr=1e-4)
stages = [Stage('psnr', 3, stream_loader(RandomPatches(64), 8, env.rank, env.world_size, seed=1), GeneratorObjective.psnr(), adam(g)),
          Stage('gan', 3, stream_loader(RandomPatches(64), 8, env.rank, env.world_size, seed=2), obj, adam(g), net_d=d,
                obj_d=DiscriminatorObjective.for_generator(obj), opt_d=adam(d))]
t = Trainer(g, stages, env=env).fit()
torch.save({'g': {k: v.cpu() for k, v in g.state_dict().items()}, 'd': {k: v.detach().cpu() for k, v in d.named_parameters()},
            'device': str(env.device)}, Path(sys.argv[1]) / f'rank{env.rank}.pt')
'''


def two_ranks(args):
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / 'two_ranks.py'; script.write_text(TORCHRUN_SCRIPT)
        res = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', str(script), tmp,
                              str(Path(__file__).parent)], capture_output=True, text=True, timeout=180,
                             env={**os.environ, 'PYTHONPATH': str(REPO) + os.pathsep + os.environ.get('PYTHONPATH', '')})
        if res.returncode: raise RuntimeError(f"torchrun exit {res.returncode}: {res.stderr[-2000:]}")
        r0, r1 = (torch.load(Path(tmp) / f'rank{r}.pt', weights_only=True) for r in (0, 1))
        diff = [k for part in ('g', 'd') for k in r0[part] if not torch.equal(r0[part][k], r1[part][k]) and 'running' not in k]
        print(f"  2 ranks on {r0['device']} / {r1['device']}, shared E, 3 PSNR + 3 GAN iterations: "
              + ('weights IDENTICAL on both ranks' if not diff else f'weights DIFFER in {len(diff)} tensors, e.g. {diff[:3]}'))
        notes = [l for l in res.stderr.splitlines() if 'LOCAL_RANK' in l]
        if notes: print('  ' + notes[0])


def tiny_recipe(extra=()):
    return ['networks.generator={type: RRDBNet, nf: 32, nb: 2, gc: 16}', 'networks.discriminator={type: UNetDiscriminator, nf: 16}',
            f"data.train={{hr: {REPO / 'data' / 'Set5' / 'HR'}, cache: true}}", 'data.num_workers=0', 'data.val.max_images=1',
            'train.patch=64', 'train.batch=8', 'train.save_every=1', 'train.log_every=1', 'val.every=0',
            'stages.psnr.iterations=0', 'stages.gan.iterations=4', 'stages.gan.milestones=[]',
            'stages.gan.objective={preset: fasrgan, percep: 0}', *extra]


def quiet(): return contextlib.redirect_stderr(io.StringIO())


def exact_resume(args):
    from fasr_nb.recipes import train
    from fasr_nb.trainer import StopAfter
    for det in (False, True):
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            rec = tiny_recipe([f'train.deterministic={str(det).lower()}'])
            with quiet():
                straight = train('fasrgan', rec, run_dir=Path(tmp) / 'a', device='cuda', progress=False)
                train('fasrgan', rec, run_dir=Path(tmp) / 'b', device='cuda', progress=False, cbs=[StopAfter(2)])
                resumed = train('fasrgan', rec, run_dir=Path(tmp) / 'b', device='cuda', progress=False, resume=True)
            nets = lambda t: {**{f'g.{k}': v for k, v in t.net_g.state_dict().items()},
                              **{f'd.{k}': v for k, v in t.stages[-1].net_d.state_dict().items()}}
            a, b = nets(straight), nets(resumed)
            worst = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
            ops = sorted({str(w.message).split(' does not have a deterministic')[0] for w in caught if 'deterministic' in str(w.message)})
            print(f"  deterministic {det}: 2 + 2 iterations vs a straight 4 (fp32): "
                  + ('EXACT' if all(torch.equal(a[k], b[k]) for k in a) else f'not exact, largest weight difference {worst:.3g}')
                  + (f"; ops without a deterministic kernel: {ops[:4]}" if ops else ''), flush=True)


def cpu_resume(args):
    from fasr_nb.recipes import train
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        rec = tiny_recipe(['train.precision=fp16', 'train.channels_last=true', 'stages.gan.iterations=2'])
        with quiet():
            train('fasrgan', rec, run_dir=Path(tmp) / 'c', device='cuda', progress=False)
            t = train('fasrgan', rec[:-3] + ['stages.gan.iterations=3', 'train.precision=fp32'], run_dir=Path(tmp) / 'c',
                      device='cpu', progress=False, resume=True)
        said = any("was trained with train.precision='fp16'" in str(w.message) for w in caught)
        print(f"  a 2-iteration fp16 run on the GPU, resumed on the CPU in fp32: reached iteration {t.iteration} on "
              f"{t.device}{', with the warning' if said else ', NO warning'}")


def forced_oom(args):
    from fasr_nb.inference import upscale, TileError
    net = big_generator()
    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction(min(1., 0.15 * 2**30 / torch.cuda.get_device_properties(0).total_memory))
    try:
        upscale(net, torch.rand(1, 3, 1024, 1024), tile=512)
        print("  FAILED oom: no out-of-memory error with 0.15 GiB for tiles of 512x512")
    except (TileError, RuntimeError) as e:
        msg = str(e)
        print(f"  {'hint given' if 'out of memory: ' in msg else 'FAILED oom: NO hint'}: {msg[:240]}")
    finally: torch.cuda.set_per_process_memory_fraction(1.0); torch.cuda.empty_cache()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--iters', type=int, default=200, help='training iterations per recipe and precision (the first 20 untimed)')
    p.add_argument('--skip', nargs='*', default=[], choices=SECTIONS, help='sections to leave out')
    a = p.parse_args(argv)
    if not torch.cuda.is_available():
        print(f"bench_gpu: no CUDA GPU here (torch {torch.__version__}, CUDA build {torch.version.cuda}): nothing to check; "
              "run this script on a machine with an NVIDIA GPU")
        return 0
    print("== 1. the machine"); machine()
    for name, title, f in (('notebooks', '2. the notebooks\' cuda cells', notebooks),
                           ('upscale', '3. upscaling 256x192 -> 1024x768, RRDBNet nb=23 (random weights), ms per image', upscale_speed),
                           ('compile', '3b. the same, torch.compile + CUDA graphs', compiled_speed),
                           ('train', '4. training speed and mixed precision', train_speed),
                           ('syncs', '5. host syncs of two training iterations', host_syncs),
                           ('torchrun', '6. two ranks on one GPU under torchrun (Gloo), shared extractor', two_ranks),
                           ('resume', '7. exact resume on the GPU', exact_resume),
                           ('cpu_resume', '8. a GPU checkpoint resumed on the CPU', cpu_resume),
                           ('oom', '9. an out-of-memory error in tiled inference', forced_oom)):
        section(name, title, a)(lambda f=f: f(a))
    print(f"\nbench_gpu: done in {time.perf_counter() - T0:.0f} s")
    return 0


if __name__ == '__main__':
    sys.exit(main())
