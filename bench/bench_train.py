"""Training speed of the paper's recipes: iterations per second of the adversarial stage at the paper's sizes.

Each recipe (FASRGAN, Fs-SRGAN, FA+Fs-SRGAN) is built at full size from its recipe (full networks, the paper's
patch sizes; `--official` for the official code's) and trained for a few iterations of its adversarial stage
(generator step + discriminator step, perceptual loss included) on random patches, after warm-up, in fp32 and in
bf16 autocast + channels-last, and, with `--modes compile-fp32 compile-bf16-cl`, with the generator and the
discriminator wrapped in `torch.compile` (inductor, static shapes): the first iteration then includes compiling
(forward and backward graphs), reported on its own line, and `--warmup` should be at least 2. The batch is reduced (default 2) so that it runs on a laptop CPU; the table
prints the batch used. VGG19's ImageNet weights are not needed: a random VGG has the same cost.

    python bench/bench_train.py [--recipes fasrgan fs_srgan fa_fs_srgan] [--batch 2] [--iters 3] [--warmup 1]
                                [--device cpu|cuda] [--threads N] [--modes fp32 bf16-cl compile-bf16-cl] [--official] [--psnr]
"""
import argparse, sys, time

import torch
from torch.utils.data import Dataset


class RandomPatches(Dataset):
    "Random (LR, HR) patch pairs: the data pipeline is not what is measured."
    def __init__(self, patch: int, scale: int = 4, n: int = 64): self.patch, self.scale, self.n = patch, scale, n
    def __len__(self): return self.n
    def __getitem__(self, i):
        p = self.patch
        return {'lr': torch.rand(3, p // self.scale, p // self.scale), 'hr': torch.rand(3, p, p)}


def bench_one(name, mode, args):
    "Seconds per iteration (median of the timed ones) of one recipe's adversarial (or PSNR) stage in one mode."
    from fasr_nb.config import load_recipe
    from fasr_nb.recipes import build_networks, build_objective
    from fasr_nb.trainer import Trainer, Stage, Callback, stream_loader, DistEnv
    from fasr_nb.callbacks import MixedPrecision, ChannelsLast
    from fasr_nb.losses import DiscriminatorObjective
    from fasr_nb.sharing import generator_parameters, discriminator_parameters
    r = load_recipe(name, ['official=true'] if args.official else None)
    st = next(s for s in r.stages if bool(s.get('discriminator')) != args.psnr)
    patch, batch = st.get('patch', r.train['patch']), args.batch
    torch.manual_seed(0)
    g, d = build_networks(r)
    if mode.startswith('compile-'):   # the modules the trainer calls; their parameters are the originals'
        g = torch.compile(g)
        if d is not None and st.get('discriminator'): d = torch.compile(d)
    obj_g = build_objective({**st['objective'], 'vgg': 'random'})
    betas = tuple(r.train['betas'])
    kw = {}
    if st.get('discriminator'):
        kw = dict(net_d=d, obj_d=DiscriminatorObjective.for_generator(obj_g),
                  opt_d=torch.optim.Adam(discriminator_parameters(d), lr=st.get('lr_d', st['lr_g']), betas=betas))
    n = args.warmup + args.iters
    stage = Stage(st['name'], n, stream_loader(RandomPatches(patch, r.get('scale', 4)), batch), obj_g,
                  torch.optim.Adam(generator_parameters(g), lr=st['lr_g'], betas=betas), **kw)

    class Timer(Callback):
        order = 100
        def __init__(self): self.times = []
        def before_batch(self, t):
            if t.device.type == 'cuda': torch.cuda.synchronize(t.device)
            self.t0 = time.perf_counter()
        def after_batch(self, t):
            if t.device.type == 'cuda': torch.cuda.synchronize(t.device)
            self.times.append(time.perf_counter() - self.t0)
    timer = Timer()
    base = mode.removeprefix('compile-')
    cbs = [timer, MixedPrecision('bf16' if base.startswith('bf16') else 'fp32')] + ([ChannelsLast()] if base.endswith('cl') else [])
    Trainer(g, [stage], cbs, env=DistEnv(device=torch.device(args.device))).fit()
    if mode.startswith('compile-'):
        print(f"  {name:12s} {mode:8s} first iteration (compiling G{' and D' if kw else ''}): {timer.times[0]:.1f} s", flush=True)
    timed = sorted(timer.times[args.warmup:])
    return timed[len(timed) // 2], patch, batch, sum(p.numel() for p in g.parameters()), (sum(p.numel() for p in d.parameters()) if d is not None else 0)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--recipes', nargs='+', default=['fasrgan', 'fs_srgan', 'fa_fs_srgan'])
    p.add_argument('--batch', type=int, default=2, help='batch per iteration (the paper: 16; reduced for a CPU)')
    p.add_argument('--iters', type=int, default=3, help='timed iterations (the median is reported)')
    p.add_argument('--warmup', type=int, default=1, help='untimed iterations first')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--threads', type=int, default=None, help='torch CPU threads (default: torch\'s choice)')
    p.add_argument('--modes', nargs='+', default=['fp32', 'bf16-cl'], choices=['fp32', 'fp32-cl', 'bf16', 'bf16-cl', 'compile-fp32', 'compile-fp32-cl', 'compile-bf16-cl'])
    p.add_argument('--official', action='store_true', help="the official code's sizes (e.g. FASRGAN patch 128) instead of the paper's")
    p.add_argument('--psnr', action='store_true', help='time the PSNR stage (generator only, L1) instead of the adversarial stage')
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    cpu = torch.backends.cpu.get_cpu_capability() if dev.type == 'cpu' else torch.cuda.get_device_name(dev)
    print(f"fasr_nb training speed, {'PSNR' if a.psnr else 'adversarial'} stage, {'official' if a.official else 'paper'} sizes; "
          f"device {dev} ({cpu}), {torch.get_num_threads()} threads, torch {torch.__version__}; "
          f"{a.warmup} warm-up + {a.iters} timed iterations (median)")
    rows = []
    for name in a.recipes:
        res = {}
        for mode in a.modes:
            s, patch, batch, ng, nd = bench_one(name, mode, a)
            res[mode] = s
            print(f"  {name:12s} {mode:8s} batch {batch}, HR patch {patch}: {s:8.3f} s/it ({1 / s:6.3f} it/s)", flush=True)
        rows.append((name, batch, patch, ng, nd, res))
    base = a.modes[0]
    print(f"\n{'recipe':12s} {'batch':>5s} {'patch':>5s} {'G params':>11s} {'D params':>12s} " +
          ' '.join(f"{m + ' it/s':>13s}" for m in a.modes) + ''.join(f"  {m + '/' + base:>14s}" for m in a.modes[1:]))
    for name, batch, patch, ng, nd, res in rows:
        print(f"{name:12s} {batch:5d} {patch:5d} {ng:11,d} {nd:12,d} " + ' '.join(f"{1 / res[m]:13.3f}" for m in a.modes) +
              ''.join(f"  {res[base] / res[m]:14.2f}x" for m in a.modes[1:]))
    return 0


if __name__ == '__main__':
    sys.exit(main())
