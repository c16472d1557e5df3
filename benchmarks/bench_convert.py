#!/usr/bin/env python3
"""Benchmark: converting the checkpoints of a resnet50-sized timm run, hubkit vs a plain loop.

Builds a run dir with timm's own CheckpointSaver (randomly initialised resnet50, a few real SGD steps on
random images so the momentum buffers exist, EMA on): ``--checkpoints`` numbered checkpoints of about
300 MB each (weights + EMA weights + optimizer state), ``args.yaml`` and ``summary.csv``. Then, each in a
fresh subprocess so peak RSS (``ru_maxrss``) is honest, it converts every checkpoint with

- ``hubkit``: ``read_run`` + ``convert_checkpoint`` (sha256 of source and output, shape check against the
  architecture, config.json, EMA weights, memory-mapped load, streamed safetensors write);
- ``plain``: ``torch.load(weights_only=True)`` (Namespace allowlisted) + ``safetensors.torch.save_file``
  of ``state_dict_ema``: no hashing, no checks, no config;
- ``baseline``: the same imports and nothing else, to show what the interpreter + torch + timm cost alone.

The files are read once before timing so both variants start from a warm page cache.

    .venv/bin/python benchmarks/bench_convert.py                 # 10 checkpoints, 2 repeats
    .venv/bin/python benchmarks/bench_convert.py --checkpoints 3 --repeat 1 --model resnet18
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

CHILD = r"""
import json, resource, sys, time
variant, run_dir, out_dir = sys.argv[1:4]
import torch, timm, safetensors.torch  # same imports in every variant
from pathlib import Path
def vm(key):
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(key)) / 1024
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to what the imports left resident
rss0 = vm("VmRSS")
start = time.perf_counter(); cpu0 = time.process_time()
written = 0
if variant == "hubkit":
    from hubkit.runs import convert_checkpoint, read_run
    run = read_run(run_dir)
    for ckpt in run.checkpoints:
        done = convert_checkpoint(run, ckpt, Path(out_dir) / f"epoch-{ckpt.epoch}")
        written += done.files[0].size
elif variant == "plain":
    import argparse
    for path in sorted(Path(run_dir).glob("checkpoint-*.pth.tar")):
        with torch.serialization.safe_globals([argparse.Namespace]):
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        target = Path(out_dir) / path.stem.split(".")[0]
        target.mkdir(parents=True, exist_ok=True)
        safetensors.torch.save_file(ckpt["state_dict_ema"], target / "model.safetensors")
        written += (target / "model.safetensors").stat().st_size
        del ckpt
elapsed = time.perf_counter() - start
print(json.dumps({"wall_s": elapsed, "cpu_s": time.process_time() - cpu0, "written": written,
                  "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "imports_mib": rss0, "peak_above_imports_mib": vm("VmHWM") - rss0}))
"""


def build_run(run_dir: Path, model_name: str, count: int) -> None:
    """A genuine timm run dir: CheckpointSaver checkpoints (EMA + SGD momentum), args.yaml, summary.csv."""
    from collections import OrderedDict

    import timm
    import torch
    import yaml
    from timm.optim import create_optimizer_v2
    from timm.utils import CheckpointSaver, ModelEmaV3, update_summary

    torch.manual_seed(0)
    args = argparse.Namespace(
        model=model_name, num_classes=1000, opt="sgd", lr=0.1, momentum=0.9, weight_decay=1e-4, epochs=count,
        batch_size=2, model_ema=True, model_ema_decay=0.9998, eval_metric="top1", img_size=224, sched="cosine",
        data_dir="", val_split="validation", smoothing=0.1, amp=False, experiment=run_dir.name,
    )  # fmt: skip
    model = timm.create_model(model_name, num_classes=1000)
    optimizer = create_optimizer_v2(model, opt="sgd", lr=0.1, momentum=0.9, weight_decay=1e-4)
    ema = ModelEmaV3(model, decay=0.9998)
    run_dir.mkdir(parents=True)
    (run_dir / "args.yaml").write_text(yaml.safe_dump(vars(args), default_flow_style=False))
    saver = CheckpointSaver(
        model, optimizer, args=args, model_ema=ema, checkpoint_dir=str(run_dir), max_history=count
    )
    loss_fn = torch.nn.CrossEntropyLoss()
    for epoch in range(count):
        for _ in range(2):  # a few real steps: momentum buffers and changing weights, no data needed
            x = torch.randn(2, 3, 64, 64)
            loss = loss_fn(model(x), torch.randint(0, 1000, (2,)))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            ema.update(model)
        top1 = 10.0 + 5 * epoch
        update_summary(
            epoch, OrderedDict(loss=7.0 - epoch * 0.1), OrderedDict(loss=6.9, top1=top1, top5=top1 + 10),
            filename=str(run_dir / "summary.csv"), lr=0.1,
        )  # fmt: skip
        saver.save_checkpoint(epoch, metric=top1)


def run_child(variant: str, run_dir: Path, out_dir: Path) -> dict[str, float]:
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    code = CHILD  # "baseline" matches neither branch: imports only
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, "-c", code, variant, str(run_dir), str(out_dir)],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=int, default=10)
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--workdir", default=None, help="keep the run here (default: a temp dir, removed)")
    args = parser.parse_args()

    base = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="hubkit-bench-convert-"))
    run_dir = base / "run"
    try:
        t0 = time.perf_counter()
        if not run_dir.exists():
            build_run(run_dir, args.model, args.checkpoints)
        files = sorted(run_dir.glob("checkpoint-*.pth.tar"))
        sizes = [f.stat().st_size for f in files]
        print(
            f"run: {len(files)} checkpoints of {statistics.mean(sizes) / 2**20:.0f} MiB ({time.perf_counter() - t0:.0f} s to build)"
        )
        for f in files:  # warm the page cache for every variant alike
            with open(f, "rb") as handle:
                while handle.read(1 << 24):
                    pass
        results: dict[str, list[dict[str, float]]] = {"baseline": [], "plain": [], "hubkit": []}
        for _ in range(args.repeat):
            for variant in results:
                results[variant].append(run_child(variant, run_dir, base / f"out-{variant}"))
                print(variant, results[variant][-1], flush=True)
        print()
        print(
            "| variant | wall (best / median) | CPU | peak RSS above imports | peak RSS (ru_maxrss) | written |"
        )
        print("|---|---|---|---|---|---|")
        for variant, rows in results.items():
            walls = [r["wall_s"] for r in rows]
            print(
                f"| {variant} | {min(walls):.1f} s / {statistics.median(walls):.1f} s | "
                f"{min(r['cpu_s'] for r in rows):.1f} s | {max(r['peak_above_imports_mib'] for r in rows):,.0f} MiB | "
                f"{max(r['maxrss_mib'] for r in rows):,.0f} MiB | "
                f"{rows[0]['written'] / 2**20:,.0f} MiB |"
            )
        state_mib = sum(p.numel() * 4 for p in _model_tensors(args.model)) / 2**20
        print(
            f"\none state dict: {state_mib:.0f} MiB; one checkpoint file: {statistics.mean(sizes) / 2**20:.0f} MiB"
        )
    finally:
        if not args.workdir:
            shutil.rmtree(base, ignore_errors=True)


def _model_tensors(model_name: str) -> list:  # type: ignore[type-arg]
    import timm
    import torch

    with torch.device("meta"):
        return list(timm.create_model(model_name, num_classes=1000).state_dict().values())


if __name__ == "__main__":
    main()
