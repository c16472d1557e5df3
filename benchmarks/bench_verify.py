#!/usr/bin/env python3
"""Benchmark ``hubkit verify`` against a bare "download + create_model + load + eval loop".

Builds a synthetic timm run (a resnet50-sized model, random init, no download), an image-folder eval set
generated on the fly, publishes the checkpoint to a LocalHub (converted with hubkit.runs, uploaded with
huggingface_hub, hubkit.json included), then times, per repeat and each in a fresh cache:

- bare:            snapshot_download + timm.create_model on the device + safetensors load_file(device=)
                   + DataLoader eval loop (top-1) with the config's eval transforms;
- verify:          hubkit's verify_revision without the run (download, reload through timm's hf-hub
                   loader, file hashes, quick-eval, metric check);
- verify+run:      the same with the source run (adds the bitwise tensor and logits comparison).

The first bare pass is a warm-up (CUDA context, cuDNN autotuning, page cache) and is not recorded.
Results (medians) go to ``--out`` as markdown plus a JSON file beside it (or JSON only for ``*.json``).

    python benchmarks/bench_verify.py --out benchmarks/verify-h100.md            # GPU: resnet50, 512 images
    python benchmarks/bench_verify.py --device cpu --images 64 --out /tmp/v.md   # CPU: smaller counts
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ID = "localuser/bench-verify"
REVISION = "epoch-000"
NUM_FOLDERS = 10  # class folders of the synthetic eval set


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="results file (.md: markdown + .json beside it; .json: JSON)")
    p.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"))
    p.add_argument("--model", default="resnet50", help="timm architecture (random init)")
    p.add_argument("--num-classes", type=int, default=1000)
    p.add_argument("--images", type=int, default=None, help="eval images (default 512 on CUDA, 64 on CPU)")
    p.add_argument("--image-size", type=int, default=256, help="side of the generated JPEGs")
    p.add_argument("--batch-size", type=int, default=None, help="default 128 on CUDA, 32 on CPU")
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers (0-2, as hubkit verify)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (default 3 on CUDA, 1 on CPU)")
    p.add_argument("--workdir", default=None, help="keep the run, data and hub here (default: a temp dir)")
    return p.parse_args(argv)


def make_images(root: Path, count: int, side: int) -> None:
    """Smooth random colour fields with noise, saved as JPEG (decode cost like real photos)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    for i in range(count):
        folder = root / f"class{i % NUM_FOLDERS:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        a, b, c = rng.uniform(0, 255, 3)
        base = np.stack([a * xx, b * yy, c * (1 - xx)], axis=-1)
        noise = rng.normal(0, 20, (side, side, 3))
        pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:05d}.jpg", quality=90)


def build_run(work: Path, args: argparse.Namespace, device: Any) -> Path:
    """A timm train.py-shaped run dir whose summary.csv eval metrics were measured on its checkpoint."""
    import timm
    import torch
    import yaml

    from hubkit.verify import datasets, evaluate

    run_dir = work / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = timm.create_model(args.model, num_classes=args.num_classes).to(device).eval()
    from timm.data import create_transform, resolve_data_config

    transform = create_transform(**resolve_data_config({}, model=model))
    dataset = datasets.image_folder_dataset(work / "data" / "val", transform)
    loader = datasets.make_loader(dataset, batch_size=args.batch_size, workers=args.workers, device=device)
    metrics = evaluate.evaluate_classifier(model, loader, device).metrics
    run_args = {
        "model": args.model,
        "num_classes": args.num_classes,
        "data_dir": str(work / "data"),
        "val_split": "val",
        "batch_size": args.batch_size,
        "epochs": 1,
        "model_ema": False,
        "eval_metric": "top1",
        "opt": "sgd",
        "lr": 0.1,
    }
    (run_dir / "args.yaml").write_text(yaml.safe_dump(run_args))
    (run_dir / "summary.csv").write_text(
        "epoch,train_loss,eval_loss,eval_top1,eval_top5,lr\n"
        f"0,6.9,{metrics['loss']:.6f},{metrics['top1']:.6f},{metrics['top5']:.6f},0.1\n"
    )
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save(
        {"epoch": 0, "arch": args.model, "state_dict": state, "version": 2}, run_dir / "checkpoint-0.pth.tar"
    )
    return run_dir


def publish(run_dir: Path, work: Path, endpoint: str) -> None:
    """Convert epoch 0 with hubkit.runs, write hubkit.json, upload to REVISION and main."""
    from huggingface_hub import HfApi

    from hubkit.publish.metadata import RevisionFacts, hubkit_json, split_metrics
    from hubkit.runs import convert_checkpoint, read_run

    run = read_run(run_dir)
    info = run.checkpoint(0)
    assert info is not None
    out = work / "export"
    done = convert_checkpoint(run, info, out)
    results, lr, step = split_metrics(info.metrics.values if info.metrics else {})
    facts = RevisionFacts(
        revision=REVISION,
        run_name=run.name,
        framework=run.framework,
        architecture=run.architecture,
        epoch=0,
        epochs=1,
        epoch_base=0,
        metrics=results,
        lr=lr,
        step=step,
        weights=done.weights,
        source_file=info.path.name,
        source_sha256=done.source_sha256,
        source_size=info.size,
        files={f.path.name: (f.size, f.sha256) for f in done.files},
        hyperparameters=run.hyperparams.raw,
        primary_metric=run.primary_metric,
        num_parameters=done.num_parameters,
    )
    (out / "hubkit.json").write_bytes(hubkit_json(facts))
    api = HfApi(endpoint=endpoint)
    api.create_repo(REPO_ID, exist_ok=True)
    api.upload_folder(repo_id=REPO_ID, folder_path=str(out))
    api.create_branch(REPO_ID, branch=REVISION, exist_ok=True)


def bare_pass(endpoint: str, cache: Path, device: Any, args: argparse.Namespace) -> dict[str, float]:
    """The minimal reload + eval a user would write, timed per phase."""
    import timm
    import torch
    from huggingface_hub import snapshot_download
    from safetensors.torch import load_file
    from timm.data import create_transform, resolve_data_config

    from hubkit.verify import datasets
    from hubkit.verify.device import synchronize

    t0 = time.perf_counter()
    snap = Path(snapshot_download(REPO_ID, revision=REVISION, cache_dir=str(cache), endpoint=endpoint))
    t1 = time.perf_counter()
    config = json.loads((snap / "config.json").read_text())
    with torch.device(device):
        model = timm.create_model(
            config["architecture"], num_classes=config["num_classes"], pretrained_cfg=config["pretrained_cfg"]
        )
    model.load_state_dict(load_file(str(snap / "model.safetensors"), device=str(device)))
    model.eval()
    synchronize(device)
    t2 = time.perf_counter()
    transform = create_transform(**resolve_data_config({}, model=model))
    dataset = datasets.image_folder_dataset(Path(args.data_root), transform)
    loader = datasets.make_loader(dataset, batch_size=args.batch_size, workers=args.workers, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    with torch.inference_mode():
        for images, targets in loader:
            logits = model(images.to(device, non_blocking=True))
            correct += (logits.argmax(1) == targets.to(device, non_blocking=True)).sum()
    synchronize(device)
    t3 = time.perf_counter()
    return {
        "download_s": t1 - t0,
        "load_s": t2 - t1,
        "eval_s": t3 - t2,
        "total_s": t3 - t0,
        "images_per_s": len(dataset) / (t3 - t2),
    }


def verify_pass(
    endpoint: str, device: Any, args: argparse.Namespace, run_dir: Path | None
) -> dict[str, float]:
    from hubkit.verify.verifier import VerifyOptions, verify_revision

    options = VerifyOptions(device=str(device), batch_size=args.batch_size, workers=args.workers)
    t0 = time.perf_counter()
    result = verify_revision(REPO_ID, REVISION, endpoint=endpoint, run=run_dir, options=options)
    wall = time.perf_counter() - t0
    if not result.passed:
        raise SystemExit("verification failed during the benchmark:\n" + "\n".join(result.failures))
    return {**result.timings, "wall_s": wall}


def median_of(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = sorted({k for row in rows for k in row})
    return {k: statistics.median(row[k] for row in rows if k in row) for k in keys}


def main(argv: list[str] | None = None) -> int:
    import torch

    from hubkit.hub import LocalHub
    from hubkit.verify.device import describe_device, library_versions, resolve_device

    args = parse_args(argv)
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    args.images = args.images or (512 if cuda else 64)
    args.batch_size = args.batch_size or (128 if cuda else 32)
    args.repeats = args.repeats or (3 if cuda else 1)
    args.workers = max(0, min(args.workers, 2))
    tmp = tempfile.TemporaryDirectory(prefix="hubkit-bench-verify-")
    work = Path(args.workdir or tmp.name)
    args.data_root = str(work / "data" / "val")

    t0 = time.perf_counter()
    make_images(work / "data" / "val", args.images, args.image_size)
    run_dir = build_run(work, args, device)
    setup_s = time.perf_counter() - t0
    rows: dict[str, list[dict[str, float]]] = {"bare": [], "verify": [], "verify+run": []}
    with LocalHub(work / "hub", port=0, token=None) as hub:
        publish(run_dir, work, hub.endpoint)
        bare_pass(hub.endpoint, Path(tempfile.mkdtemp(dir=work)), device, args)  # warm-up, not recorded
        for _ in range(args.repeats):
            rows["bare"].append(bare_pass(hub.endpoint, Path(tempfile.mkdtemp(dir=work)), device, args))
            rows["verify"].append(verify_pass(hub.endpoint, device, args, None))
            rows["verify+run"].append(verify_pass(hub.endpoint, device, args, run_dir))
    medians = {name: median_of(r) for name, r in rows.items()}
    bare_total = medians["bare"]["total_s"]
    report = {
        "machine": {
            "device": describe_device(device, torch.float32).to_dict(),
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "versions": library_versions(),
        "settings": {
            "model": args.model,
            "num_classes": args.num_classes,
            "images": args.images,
            "image_size": args.image_size,
            "batch_size": args.batch_size,
            "workers": args.workers,
            "repeats": args.repeats,
        },
        "setup_s": setup_s,
        "median": medians,
        "ratio_verify_to_bare": medians["verify"]["wall_s"] / bare_total,
        "ratio_verify_run_to_bare": medians["verify+run"]["wall_s"] / bare_total,
        "target_ratio": 1.2,
        "runs": rows,
    }
    write_report(Path(args.out), report)
    print(markdown(report))
    tmp.cleanup()
    return 0


def markdown(report: dict[str, Any]) -> str:
    s, m, d = report["settings"], report["median"], report["machine"]["device"]
    memory = f", {d['memory_gib']} GiB" if d["memory_gib"] else ""
    lines = [
        f"Device: {d['type']} ({d['name']}{memory}), dtype {d['dtype']}; "
        f"torch {report['versions']['torch']}, timm {report['versions']['timm']}.",
        f"Model {s['model']} ({s['num_classes']} classes, random init), {s['images']} JPEG images "
        f"{s['image_size']}px, batch {s['batch_size']}, {s['workers']} workers, median of {s['repeats']} repeat(s).",
        "",
        "| pass | download s | load s | hash s | eval s | integrity s | total s | images/s | × bare |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    bare_total = m["bare"]["total_s"]
    for name in ("bare", "verify", "verify+run"):
        row = m[name]
        total = row.get("wall_s", row["total_s"])
        cells = [row.get(k) for k in ("download_s", "load_s", "hash_s", "eval_s", "integrity_s")]
        text = ["-" if v is None else f"{v:.3f}" for v in cells]
        lines.append(
            f"| {name} | {' | '.join(text)} | {total:.3f} | {row.get('images_per_s', 0):.0f} | "
            f"{total / bare_total:.2f} |"
        )
    return "\n".join(lines)


def write_report(out: Path, report: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, sort_keys=True, default=str)
    if out.suffix == ".json":
        out.write_text(text + "\n")
        return
    out.write_text(markdown(report) + "\n")
    out.with_suffix(".json").write_text(text + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
