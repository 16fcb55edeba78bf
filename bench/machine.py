"""What machine a benchmark ran on: shared by the scripts in bench/ (each prints it in its header)."""
import platform
from pathlib import Path

def cpu_name() -> str:
    "The CPU's model name (Linux /proc/cpuinfo), else what `platform` knows."
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'): return line.split(':', 1)[1].strip()
    except OSError: pass
    return platform.processor() or 'unknown CPU'

def native_bf16() -> bool | None:
    "Whether this CPU runs bf16 convolutions natively (AVX512-BF16 / AMX); None if torch cannot tell."
    from fasr_nb.core import native_cpu_bf16   # the check `upscale` and `precision: auto` rely on
    return native_cpu_bf16()

def cpu_features() -> str:
    "PyTorch's vector ISA level on this CPU, and whether it has native bf16 (without it bf16 convs are emulated, far slower)."
    import torch
    native = native_bf16()
    bf16 = ('unknown' if native is None else 'yes' if native
            else 'NO (bf16 is emulated: expect it slower than fp32)')
    return f"{torch.backends.cpu.get_cpu_capability()}, native bf16: {bf16}"
