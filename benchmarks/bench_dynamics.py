#!/usr/bin/env python3
"""Benchmark: ``hubkit dynamics`` on 10 resnet50-sized checkpoints vs reading their weight bytes once.

The run is built like the publish benchmark's (``bench_convert.build_run``: timm's ``CheckpointSaver``,
EMA weights + SGD momentum, about 300 MB per checkpoint, 98 MiB of EMA weights each). Each variant runs in
a fresh subprocess, so its peak RSS is its own:

- ``read``: reading the analysed weight bytes once: every EMA tensor of every checkpoint, located the way
  the analysis locates them (``hubkit.runs.tensor_index``: from the pickle, no tensor built) and read with
  the analysis's own read (``read_into``: ``pread`` from the file), a whole tensor per call, into one reused
  buffer (the floor for any analysis that looks at every weight: little more than the copies);
- ``load``: the usual way to read them: hubkit's safe loader (``torch.load(weights_only=True, mmap=True)``)
  per checkpoint, then every EMA tensor copied once out of the mapping;
- ``dynamics``: ``hubkit.dynamics.analyse_run(RUN)`` (all 10 checkpoints, coarse groups, the full report:
  meta model, groups, lock plan, measures, checks).

Both run with one torch thread, and import torch, timm and hubkit's modules before the clock starts
(``PYTHONDONTWRITEBYTECODE`` machines would otherwise compile hubkit's modules in every run). Both run
warm (page cache filled by reading the files first) and cold (the checkpoint files dropped from the page
cache with ``posix_fadvise(DONTNEED)`` first; only this benchmark's own files are touched).
Reported: wall time (best and median: on a shared machine the best is the least disturbed run), CPU
time (a forked worker's included), tensor bytes read, and peak RSS above the imports (``VmHWM`` after
resetting it with ``/proc/self/clear_refs`` once torch and timm are imported, minus the RSS at that point)
plus the peak private memory (USS, sampled every 5 ms) of the worker process a whole analysis forks for
its second share (``hubkit.dynamics.parallel``).

    .venv/bin/python benchmarks/bench_dynamics.py --workdir /tmp/bench-dyn       # 10 x resnet50
    .venv/bin/python benchmarks/bench_dynamics.py --checkpoints 3 --model resnet18 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, os, sys, time
variant, run_dir = sys.argv[1:3]
import math
import torch, timm  # same imports in every variant, before the clock starts
import hubkit.dynamics, hubkit.dynamics.groups, hubkit.dynamics.locks, hubkit.runs.reader, hubkit.runs.safeload
import hubkit.runs.read_mmpretrain  # read_run looks at every framework's run layout
from hubkit import frameworks
frameworks.get("timm")  # hubkit's modules too, every framework's among them: no import in the timing
from pathlib import Path
torch.set_num_threads(1)  # torch's own threads: off in both (the analysis runs its own Python threads)
def vm(key):
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(key)) / 1024
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to what the imports left resident
rss0 = vm("VmRSS")
t0 = time.time(); start = time.perf_counter(); cpu0 = time.process_time(); children0 = os.times()
read = 0
if variant == "read":
    from hubkit import frameworks
    from hubkit.dynamics.weights import CheckpointWeights
    timm_framework = frameworks.get("timm")
    buffer = torch.empty(0, dtype=torch.uint8)
    for path in sorted(Path(run_dir).glob("checkpoint-*.pth.tar")):
        source = CheckpointWeights(path, "ema", timm_framework)
        for key, (shape, dtype) in source.metadata().items():
            numel = math.prod(shape)
            nbytes = numel * dtype.itemsize
            if buffer.numel() < nbytes:
                buffer = torch.empty(nbytes, dtype=torch.uint8)
            if nbytes:
                source.read_into(key, 0, numel, buffer[:nbytes])  # the analysis's read, a tensor per call
            read += nbytes
        source.close()
    extra = {}
elif variant == "load":
    from hubkit.runs.safeload import load_checkpoint
    buffer = torch.empty(0, dtype=torch.uint8)
    for path in sorted(Path(run_dir).glob("checkpoint-*.pth.tar")):
        for tensor in load_checkpoint(path)["state_dict_ema"].values():  # mapped: the copy reads the file
            nbytes = tensor.numel() * tensor.element_size()
            if buffer.numel() < nbytes:
                buffer = torch.empty(nbytes, dtype=torch.uint8)
            if nbytes:
                buffer[:nbytes].copy_(tensor.reshape(-1).view(torch.uint8))
            read += nbytes
    extra = {}
else:
    from hubkit.dynamics import analyse_run
    report = analyse_run(run_dir)
    read = report.bytes_read
    extra = {"checkpoints": len(report.checkpoints), "groups": len(report.groups), "measure_s": report.seconds}
elapsed = time.perf_counter() - start
children = os.times()  # a forked worker's CPU counts too
cpu = time.process_time() - cpu0 + (children.children_user - children0.children_user) + (children.children_system - children0.children_system)
print(json.dumps({"wall_s": elapsed, "cpu_s": cpu, "read": read, "t0": t0, "t1": time.time(), "peak_above_imports_mib": vm("VmHWM") - rss0,
                  "imports_mib": rss0, **extra}))
"""


def _evict(files: list[Path]) -> None:
    for file in files:
        fd = os.open(file, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _warm(files: list[Path]) -> None:
    for file in files:
        with open(file, "rb") as handle:
            while handle.read(1 << 24):
                pass


def _workers_private_mib(pid: int) -> float:
    """Memory only the children of process ``pid`` hold (USS: their private pages), 0 when there are none."""
    total = 0
    try:
        for child in psutil.Process(pid).children():
            total += child.memory_full_info().uss
    except psutil.Error:  # gone meanwhile
        pass
    return total / 2**20


def run_child(variant: str, run_dir: Path) -> dict[str, float]:
    """One variant in a fresh process; meanwhile the private memory of any worker process it forks (the
    analysis's second share) is sampled every 5 ms, since the child's own peak does not include it."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, variant, str(run_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        samples: list[tuple[float, float]] = []
        while proc.poll() is None:
            samples.append((time.time(), _workers_private_mib(proc.pid)))
            time.sleep(0.005)
        out, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"{variant} failed:\n{err}")
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    # only while the clock ran: the imports before it spawn short-lived helpers (ldconfig), whose
    # not-yet-exec'd fork shows all of the parent's pages as its own
    during = [mib for t, mib in samples if result["t0"] <= t <= result["t1"]]
    result["worker_private_mib"] = max(during, default=0.0)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=int, default=10)
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workdir", default=None, help="keep the run here (default: a temp dir, removed)")
    args = parser.parse_args()

    sys.path.insert(0, str(HERE))
    from bench_convert import _model_tensors, build_run

    base = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="hubkit-bench-dyn-"))
    run_dir = base / "run"
    try:
        t0 = time.perf_counter()
        if not run_dir.exists():
            build_run(run_dir, args.model, args.checkpoints)
        files = sorted(run_dir.glob("checkpoint-*.pth.tar"))
        print(f"run: {len(files)} checkpoints ({time.perf_counter() - t0:.0f} s to build)", flush=True)
        results: dict[str, list[dict[str, float]]] = {}
        for _ in range(args.repeat):
            for cache in ("warm", "cold"):
                for variant in ("read", "load", "dynamics"):
                    if cache == "warm":
                        _warm(files)
                    else:
                        _evict(files)
                    row = run_child(variant, run_dir)
                    results.setdefault(f"{variant} ({cache})", []).append(row)
                    print(variant, cache, row, flush=True)
        state_mib = sum(t.numel() * t.element_size() for t in _model_tensors(args.model)) / 2**20
        print()
        print(
            "| variant | wall (best / median) | CPU (best) | tensor bytes read | peak RSS above imports "
            "(+ worker's private peak) |"
        )
        print("|---|---|---|---|---|")
        for name, rows in results.items():
            walls = [r["wall_s"] for r in rows]
            peak = max(r["peak_above_imports_mib"] + r["worker_private_mib"] for r in rows)
            worker = max(r["worker_private_mib"] for r in rows)
            print(
                f"| {name} | {min(walls):.2f} s / {statistics.median(walls):.2f} s | "
                f"{min(r['cpu_s'] for r in rows):.2f} s | {rows[0]['read'] / 2**20:,.0f} MiB | "
                f"{peak:,.0f} MiB ({peak / state_mib:.2f} × state dict; worker {worker:,.0f} MiB) |"
            )
        for cache in ("warm", "cold"):
            dyn = results[f"dynamics ({cache})"]
            for floor in ("read", "load"):
                base = results[f"{floor} ({cache})"]
                best = min(r["wall_s"] for r in dyn) / min(r["wall_s"] for r in base)
                median = statistics.median(r["wall_s"] for r in dyn) / statistics.median(
                    r["wall_s"] for r in base
                )
                print(f"{cache}: dynamics / {floor} = {best:.2f}x (best of each), {median:.2f}x (medians)")
        print(f"one state dict: {state_mib:.0f} MiB")
    finally:
        if not args.workdir:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
