"""Mutation testing of the book: do the notebooks' tests catch a wrong formula, not only a crash?

Each mutant is one plausible bug written into one chapter's export cells (a coefficient, a sign, an order, a
detach, a missing step). The script copies that notebook with the bug in it, runs the copy's tests the way
`nbdev-test` does, and counts the mutant as caught when they fail. The repository is never modified: the mutated
copy lives in nbs/ under a `_mutant_` name only while it runs, and is deleted afterwards, even on Ctrl-C.

    python tools/mutate.py                 # every mutant (about 5 minutes on 2 cores)
    python tools/mutate.py --only 04 07    # the mutants of some chapters
    python tools/mutate.py --list          # the list, without running

A mutant whose `old` text is no longer in its notebook is reported as STALE (the notebook changed: update the
mutant beside it). It runs on demand, not in .ci/run.
"""
import argparse, io, json, os, re, sys, time
from pathlib import Path

# (chapter, text in its export cells, the bug, what the bug is); every occurrence of the text is replaced
MUTANTS = [
    ('00_core', "(1.5*ax3 - 2.5*ax2 + 1)", "(1.5*ax3 - 2.4*ax2 + 1)", "bicubic kernel: a coefficient off"),
    ('00_core', "[65.481, 128.553, 24.966]", "[65.481, 128.553, 25.966]", "Y = ... + 24.966 B: a MATLAB coefficient off"),
    ('00_core', "(img.detach().float().clamp(0, 1) * top).round()", "(img.detach().float().clamp(0, 1) * top).floor()", "8-bit rounding truncates"),
    ('00_core', "if orient and head and head[2] in _ORIENT:", "if False:", "EXIF orientation ignored"),
    ('01_rrdb', "return x5 * 0.2 + x", "return x5 * 0.3 + x", "dense block: residual scaling 0.3"),
    ('01_rrdb', "return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x", "return self.rdb3(self.rdb2(self.rdb1(x))) * 0.1 + x", "RRDB: residual scaling 0.1"),
    ('02_discriminators', "return torch.cat([skip, F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=True)], dim=1)",
     "return torch.cat([F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=True), skip], dim=1)", "UNet decoder: [upsampled, skip]"),
    ('02_discriminators', "mode='bilinear', align_corners=True)], dim=1)", "mode='bilinear', align_corners=False)], dim=1)", "UNet decoder: align_corners=False"),
    ('02_discriminators', "out = [super().forward(first)]", "out = [F.batch_norm(first, None, None, self.weight, self.bias, True, 0., self.eps)]",
     "split BatchNorm: running statistics never updated"),
    ('04_losses', "return (_bce(c_real - c_fake.mean(), 1.) + _bce(c_fake - c_real.mean(), 0.)) / 2",
     "return (_bce(c_real.mean() - c_fake, 1.) + _bce(c_fake - c_real.mean(), 0.)) / 2", "RaGAN D: batch mean on the other side (one term)"),
    ('04_losses', "return (_bce(c_real - c_fake.mean(), 0.) + _bce(c_fake - c_real.mean(), 1.)) / 2",
     "return (_bce(c_real.mean() - c_fake, 0.) + _bce(c_fake - c_real.mean(), 1.)) / 2", "RaGAN G: batch mean on the other side (one term)"),
    ('04_losses', "(1 - torch.sigmoid(m_fake.detach()))", "(1 - torch.sigmoid(m_fake.detach()).mean(1, keepdim=True))", "attention weight averaged over channels"),
    ('04_losses', "return (_bce(m_real, 1.) + _bce(m_fake, 0.)) / 2", "return (_bce(m_real, 0.) + _bce(m_fake, 1.)) / 2", "score-map D loss: labels swapped"),
    ('04_losses', "return F.l1_loss(sr, hr)", "return F.mse_loss(sr, hr)", "pixel loss: L2 instead of L1"),
    ('05_metrics', "C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2", "C1, C2 = (0.01 * 255) ** 2, (0.02 * 255) ** 2", "SSIM: C2 from K2 = 0.02"),
    ('05_metrics', "10 * torch.log10(255. ** 2 / mse(", "10 * torch.log10(256. ** 2 / mse(", "PSNR: peak 256"),
    ('05a_niqe', "return ((10 - ma) + niqe) / 2", "return ((10 - ma) + niqe) / 3", "Perceptual Index: divided by 3"),
    ('05b_scoring', "float(np.sqrt(np.mean(v ** 2))) if METRICS[m].root_mean_square else", "float(np.mean(v)) if METRICS[m].root_mean_square else",
     "RMSE over images: mean of RMSEs, not sqrt of mean MSE"),
    ('06_data', "if vflip: x = x.flip(-2)", "if vflip: x = x.flip(-1)", "augmentation: 'vflip' flips horizontally"),
    ('06_data', "hr[..., top * scale:(top + p) * scale, left * scale:(left + p) * scale]", "hr[..., top * scale:(top + p) * scale, left:left + p * scale]",
     "aligned crop: HR column offset not scaled"),
    ('06_data', "return (lr * 255).round() / 255 if round8 else lr", "return (lr * 255).floor() / 255 if round8 else lr", "LR image: 8-bit truncation"),
    ('07a_callbacks', "        d = self.current_decay()\n", "        d = self.decay\n", "EMA ignores its warm-up"),
    ('07b_resume', "    set_rng_state(rngs[r if r < len(rngs) else 0], self.device)\n", "    pass\n", "resume does not restore the random states"),
    ('07_trainer', "_set_requires_grad(self.d_own, False)", "_set_requires_grad(self.d_own, True)", "G step: D's own parameters not frozen"),
    ('07_trainer', "for s in (st.sched_g, st.sched_d):", "for s in (st.sched_g,):", "D's learning-rate schedule never stepped"),
    ('07d_recipes', "opt_d = torch.optim.Adam(discriminator_parameters(net_d),", "opt_d = torch.optim.Adam(discriminator_own_parameters(net_d),",
     "feature sharing: E left out of D's optimiser"),
    ('07d_recipes', "int(m) - bool(t.get('schedule_first'))", "int(m) + bool(t.get('schedule_first'))", "--official schedule moved the wrong way"),
    ('07c_config', "for k in ('batch', 'bn_groups'): _check_number(r, f'train.{k}', 1, integer=True)",
     "for k in ('batch', 'bn_groups'): _check_number(r, f'train.{k}', 0, integer=True)",
     "a batch of 0 accepted"),
    ('08_inference', "return 0.5 - 0.5 * torch.cos(math.pi * ((j + 0.5) / width).clamp(0, 1))", "return ((j + 0.5) / width).clamp(0, 1)",
     "tile blending: linear instead of raised cosine"),
    ('08_inference', "elif dst.exists(): replaced.append", "elif False: replaced.append", "upscale replaces existing files"),
    ('08_inference', "fp32_first_conv(model) if module and reduced else contextlib.nullcontext():",
     "contextlib.nullcontext():", "upscale in bf16 rounds the image itself (conv_first under autocast)"),
    ('08_inference', "                if not (auto and reduced and isinstance(e.__cause__, FloatingPointError)): raise",
     "                raise", "precision 'auto': an fp16 overflow fails instead of being redone in fp32"),
    ('08_inference', "    per_pixel = 4 * 4 * widest * model.scale ** 2", "    per_pixel = 4 * widest * model.scale ** 2", "auto tile: the memory per pixel a quarter of the estimate"),
    ('08_inference', "        if core.native_cpu_bf16(): return 'bf16', True", "        return 'bf16', True", "precision 'auto': bf16 on every CPU"),
    ('08a_engines', "    first = _take_first_conv(net)", "    first = None", "OpenVINO: the image rounded to bf16 (conv_first inside the graph)"),
    ('08a_engines', "'compress_to_fp16': False,", "'compress_to_fp16': True,", "OpenVINO cache: the IR saved with fp16 weights (save_model's default)"),
    ('08a_engines', "h.update(t.reshape(-1).view(torch.uint8).numpy())", "pass", "OpenVINO cache key: the weights' values left out"),
    ('08a_engines', "return 'bf16' if native else 'fp32'", "return 'bf16'", "OpenVINO: precision 'auto' is bf16 on every CPU"),
    ('09_evaluate', "sr = quantize(method(lr.to(device)).float().cpu())", "sr = method(lr.to(device)).float().cpu()", "SR not rounded to 8 bits before scoring"),
    ('10_visualize', "m = fold(m) / fold(torch.ones_like(m))", "m = fold(m)", "score map: overlapping tiles summed, not averaged"),
    ('01a_checkpoints', "elif part[0] == 'rdb': out[f'model.1.sub.{part[1]}.RDB{part[2]}.conv{part[3]}.0.{p}'] = v",
     "elif part[0] == 'rdb': out[f'model.1.sub.{part[1]}.RDB{part[2]}.conv{6 - int(part[3])}.0.{p}'] = v",
     "ESRGAN layout: dense-block convs written in reverse order"),
    ('03_feature_sharing', "return f + self.conv_body(self.body(f))", "return self.conv_body(self.body(f))", "shared extractor: global skip dropped (Eq. 10)"),
    ('06a_datasets', "if want and out[algo] != want.lower():", "if False:", "downloads: a wrong checksum accepted"),
    ('07e_official', "'gan_weight': 'adv', 'gan_mask_weight': 'fine'", "'gan_weight': 'fine', 'gan_mask_weight': 'adv'", "official JSON: global and map GAN weights swapped"),
    ('11_cli', "if isinstance(e, OSError) and e.errno in _OS_ADVICE:", "if isinstance(e, OSError) and e.errno not in _OS_ADVICE:", "fasr: the OS's errors without their advice"),
    ('12_demo', "validate(lambda x: imresize(x, 4), val, 4, niqe=niqe)", "validate(lambda x: imresize(x, 4) * 0.98, val, 4, niqe=niqe)", "demo: the bicubic baseline darkened"),
]

def mutant_notebook(nbs: Path, chapter: str, old: str, new: str):
    "The chapter's notebook with `old` replaced by `new` in its code cells, and the number of cells changed."
    nb = json.loads((nbs / f'{chapter}.ipynb').read_text())
    n = 0
    if not old: return nb, 0
    for c in nb['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'code' and old in src: c['source'] = src.replace(old, new).splitlines(True); n += 1
    return nb, n

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--only', nargs='+', default=[], metavar='CHAPTER', help='chapter prefixes to run (e.g. 04 07d)')
    p.add_argument('--list', action='store_true', help='list the mutants and exit')
    a = p.parse_args()
    todo = [m for m in MUTANTS if not a.only or any(m[0].startswith(o) for o in a.only)]
    if a.list:
        for i, (ch, old, new, what) in enumerate(todo, 1): print(f"{i:2d} {ch:18s} {what}")
        return 0
    os.environ.setdefault('MPLBACKEND', 'Agg'); os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    from nbdev.config import get_config
    from nbdev.test import test_nb
    cfg = get_config(); nbs = Path(cfg.nbs_path).absolute()
    skip = cfg.tst_flags.split() if isinstance(cfg.tst_flags, str) else list(cfg.tst_flags)
    def run(chapter, nb) -> tuple[bool, str]:
        "Whether the tests of this copy of a chapter pass, and if not, which test line failed (the copy is deleted)."
        path = nbs / f'_mutant_{chapter}.ipynb'
        try:
            path.write_text(json.dumps(nb))
            err, real, buf = sys.stderr, sys.__stderr__, io.StringIO()
            sys.stderr = sys.__stderr__ = buf                  # nbdev writes a failing test's traceback to sys.__stderr__
            try: ok = test_nb(path, skip_flags=skip, basepath=cfg.config_path, showerr=True)[0]
            finally: sys.stderr, sys.__stderr__ = err, real
            text = buf.getvalue()
        finally: path.unlink(missing_ok=True)
        cell = re.search(r'While Executing Cell #(\d+)', text)
        lines = re.findall(r'File "<ipython-input-[^"]*", line \d+, in <module>\n\s*(.+)', text)
        where = f"cell {cell.group(1)}: {lines[-1].strip()[:100] if lines else '(see the notebook)'}" if cell else ''
        return ok, where
    passes = lambda chapter, nb: run(chapter, nb)[0]
    results, t0 = [], time.time()
    # the control: each chapter's copy, unmutated, must pass, or a 'caught' would prove nothing
    broken = [ch for ch in dict.fromkeys(m[0] for m in todo) if not passes(ch, mutant_notebook(nbs, ch, '', '')[0])]
    for ch in broken: print(f"CONTROL FAILED: {ch}'s tests fail without any mutant; its mutants are not counted")
    for i, (chapter, old, new, what) in enumerate(todo, 1):
        if chapter in broken: continue
        nb, n = mutant_notebook(nbs, chapter, old, new)
        if n == 0: results.append((chapter, what, 'STALE', 0.)); print(f"{i:2d} STALE    {chapter:18s} {what} (its text is gone)"); continue
        t = time.time()
        ok, where = run(chapter, nb)
        verdict = 'SURVIVED' if ok else 'caught'
        results.append((chapter, what, verdict, time.time() - t))
        print(f"{i:2d} {verdict:8s} {chapter:18s} {what} ({time.time() - t:.0f} s)" + (f"\n      by {where}" if where else ''), flush=True)
    live = [r for r in results if r[2] != 'STALE']
    caught = sum(r[2] == 'caught' for r in live)
    print(f"\nscore: {caught}/{len(live)} caught ({100 * caught / max(1, len(live)):.0f}%), "
          f"{sum(r[2] == 'STALE' for r in results)} stale, {time.time() - t0:.0f} s")
    for ch, what, v, _ in results:
        if v != 'caught': print(f"  {v}: {ch}: {what}")
    return 0 if caught == len(live) and not broken else 1

if __name__ == '__main__': sys.exit(main())
