"""`--precision auto`: a bfloat16 network (float32 losses) where the device computes
bfloat16 natively, float32 elsewhere."""

from __future__ import annotations

import functools

BFLOAT16_FLAGS = {"amx_bf16", "avx512_bf16"}


@functools.cache
def cpu_has_bfloat16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU has AMX-BF16 or AVX512-BF16 (read from Linux's /proc/cpuinfo;
    False where there is none to read)."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return bool(BFLOAT16_FLAGS & set(line.split(":", 1)[-1].split()))
    except OSError:
        pass
    return False


def resolve(setting: str, backend) -> str:
    """The precision that runs: "float32" or "mixed" (bfloat16 network, float32 losses)."""
    if setting != "auto":
        return setting
    return "mixed" if backend.native_bfloat16() else "float32"
