"""What the benchmark ran on: the CPU model and the features that decide wasm speed (FMA for relaxed SIMD,
the vector width the native peers get), from lscpu where it exists, else /proc/cpuinfo. docs/benchmarks.md
keeps one table per CPU model, keyed by `cpu`.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from pathlib import Path

FEATURES = ("fma", "avx2", "avx512f", "neon", "asimd")   # the ones the numbers depend on, when present


def _lscpu() -> dict:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines()) if v}


def _cpuinfo() -> dict:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def describe() -> dict:
    lscpu, cpuinfo = _lscpu(), _cpuinfo()
    cpu = (lscpu.get("Model name") or cpuinfo.get("model name") or platform.processor() or "unknown CPU")
    flags = set((lscpu.get("Flags") or cpuinfo.get("flags") or cpuinfo.get("Features") or "").split())
    return {"cpu": cpu, "cores": os.cpu_count(), "features": [f for f in FEATURES if f in flags],
            "l2": lscpu.get("L2 cache", ""), "hypervisor": lscpu.get("Hypervisor vendor", ""),
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version()}


def slug(cpu: str) -> str:
    """A file-name part for one CPU model: 'AMD EPYC' -> 'amd-epyc'."""
    return re.sub(r"[^a-z0-9]+", "-", cpu.lower()).strip("-")[:60] or "cpu"
