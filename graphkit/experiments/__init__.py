"""Experiment runners (``python -m graphkit.experiments.<name>``)."""

from __future__ import annotations

import functools
import json
import os


def write_text(path: str, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a temporary file beside it, then a rename, so a
    crash never leaves a half-written results file."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_json(path: str, obj) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (numpy scalars are written as floats)."""
    write_text(path, json.dumps(obj, indent=1, default=float))


def environment() -> dict:
    """What a run's figures depend on besides its code, data and arguments: the versions of
    Python, numpy, torch and torch_geometric, torch's CPU threads, and the CPU kernels torch
    dispatches to (``torch.backends.cpu.get_cpu_capability()``: e.g. AVX2, AVX512; set with
    the ``ATEN_CPU_CAPABILITY`` environment variable before torch starts).

    A deterministic run repeats its figures only where all of these are the same. The vector
    width matters: ``scaled_dot_product_attention`` rounds differently on AVX2 and AVX512
    kernels, so HISTOGRAPH's 10 MUTAG folds of seed 0 test at 83.42% (softmax weights) and
    81.87% (divide-by-sum) on AVX2 and at 85.15% for both on AVX512 (same machine, code and
    seed), while mean readout, which runs no attention, gives the same figures on both.

    The CPU model matters too, through MKL's matrix kernels, which pick their code path by
    CPU (set with ``MKL_CBWR`` / ``MKL_ENABLE_INSTRUCTIONS``, not ``ATEN_CPU_CAPABILITY``):
    mean readout's MUTAG seed 0, same code, versions and AVX2 kernels, tested at 83.57% on
    one 2-core cloud Xeon and 85.67% on another (avx512_vnni/ifma/vbmi), every fold different;
    there MKL_CBWR=AVX2 gave 83.54% and COMPATIBLE 88.39%. So ``cpu`` (the model name) and
    ``mkl`` (those variables, when set) are recorded as well."""
    import os
    import platform

    import numpy as np
    import torch

    try:
        import torch_geometric
        pyg = torch_geometric.__version__
    except ImportError:
        pyg = None
    return {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
            "torch_geometric": pyg, "threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cpu": cpu_model(),
            "mkl": " ".join(f"{k}={os.environ[k]}" for k in ("MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS")
                            if os.environ.get(k)) or "default"}


def cpu_model() -> str | None:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``), or
    None when neither says."""
    import platform

    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or None


def environment_text(env: dict) -> str:
    """One line for an :func:`environment` dict (keys it lacks are left out)."""
    parts = [f"{k} {env[k]}" for k in ("torch", "torch_geometric", "numpy", "python") if env.get(k)]
    if env.get("cpu_capability"):
        parts.append(f"CPU kernels {env['cpu_capability']}")
    if env.get("cpu"):
        parts.append(f"CPU {env['cpu']}")
    if env.get("mkl") and env["mkl"] != "default":
        parts.append(env["mkl"])
    if env.get("threads"):
        parts.append(f"{env['threads']} thread{'s' if env['threads'] != 1 else ''}")
    return ", ".join(parts) or "not recorded"


def set_threads(n: int) -> None:
    """Use ``n`` CPU threads in torch and in Numba's parallel kernels.

    Setting torch's alone does not hold: Numba's OpenMP threading layer shares torch's
    OpenMP runtime, and its parallel kernels set that runtime's thread count to Numba's (all
    cores by default), so after ``torch.set_num_threads(1)`` the first Numba kernel (loading
    a temporal stream runs one) put torch back on every core."""
    import numba
    import torch

    if int(n) < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    n = int(n)
    torch.set_num_threads(n)
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def restores_threads(main):
    """Run ``main``, then restore torch's and Numba's thread counts as they were before it
    (a runner sets them with :func:`set_threads`)."""

    @functools.wraps(main)
    def run(*args, **kwargs):
        import numba
        import torch

        prev_torch, prev_numba = torch.get_num_threads(), numba.get_num_threads()
        try:
            return main(*args, **kwargs)
        finally:
            torch.set_num_threads(prev_torch)
            numba.set_num_threads(prev_numba)

    return run


def deterministic(main):
    """Run ``main`` under ``torch.use_deterministic_algorithms(True, warn_only=True)``, then
    restore the previous setting.

    A seed must give the same figures twice. With torch's default CPU kernels it did not:
    two identical one-thread SEMBA trainings in one process got gradients that differed in
    the last bits, and after a few hundred steps test AUCs of 0.39 to 0.57 (6,000
    Bitcoin-Alpha events, 2 epochs); in deterministic mode every run gave 0.525, and that
    training was faster (0.53 against 0.80 s). Ops without a deterministic kernel (some on
    CUDA) warn instead of failing."""

    @functools.wraps(main)
    def run(*args, **kwargs):
        import torch

        prev, prev_warn = torch.are_deterministic_algorithms_enabled(), \
            torch.is_deterministic_algorithms_warn_only_enabled()
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            return main(*args, **kwargs)
        finally:
            torch.use_deterministic_algorithms(prev, warn_only=prev_warn)

    return run
