#!/usr/bin/env python3
"""Train a tiny CLIP on scikit-learn's digits with ``open_clip_train`` and leave its genuine run dir.

This script prepares the data (PNG folders + CSV files of image path and caption, e.g.
"a photo of the digit three") and a tiny model config, then runs ``python -m open_clip_train.main`` in a
subprocess through ``launch.py``, which only registers the config (``open_clip.add_model_config``) first.
The run dir is exactly what open_clip_train writes (``params.txt``, ``out.log``, ``checkpoints/epoch_N.pt``,
``epoch_latest.pt``, ``results.jsonl``), plus the inputs it was given: ``data/`` and ``<model>.json``.

    python examples/openclip_digits/train.py --output runs/openclip-digits            # ~1 min on 2 CPU cores
    python examples/openclip_digits/train.py --output runs/openclip-locked --lock-text
    python examples/openclip_digits/train.py --output runs/openclip-lit --lock-image --lock-image-unlocked-groups 1

hubkit finds ``<model>.json`` in the run dir by itself; elsewhere, pass it with ``--model-config``.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for digits_data

from digits_data import CLASS_NAMES, write_digits

MODEL_NAME = "digits-tiny-vit"
# A ViT image tower and a transformer text tower, each 2 layers of width 64 (about 3.3M parameters,
# most of them the 49,408-token embedding of OpenCLIP's default tokenizer).
MODEL_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {
        "image_size": 32,
        "layers": 2,
        "width": 64,
        "head_width": 32,
        "patch_size": 8,
        "mlp_ratio": 2.0,
    },
    "text_cfg": {
        "context_length": 16,
        "vocab_size": 49408,
        "width": 64,
        "heads": 2,
        "layers": 2,
        "mlp_ratio": 2.0,
    },
}


def write_csv(path: Path, files: list[tuple[Path, int]]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filepath", "title"])
        for file, label in files:
            writer.writerow([str(file), f"a photo of the digit {CLASS_NAMES[label]}"])


def prepare(run_dir: Path, max_per_class: int | None) -> tuple[Path, Path, Path]:
    """Write data/ (PNGs + train.csv / val.csv) and the model config into ``run_dir``."""
    files = write_digits(run_dir / "data", max_per_class=max_per_class)
    train_csv, val_csv = run_dir / "data" / "train.csv", run_dir / "data" / "val.csv"
    write_csv(train_csv, files["train"])
    write_csv(val_csv, files["val"])
    config = run_dir / f"{MODEL_NAME}.json"
    config.write_text(json.dumps(MODEL_CONFIG, indent=2) + "\n")
    return train_csv, val_csv, config


def main(argv: list[str] | None = None) -> Path:
    """Prepare data and config, run open_clip_train, return the run dir (logs/<name>)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    p.add_argument("--output", required=True, help="run dir to create (open_clip_train's <logs>/<name>)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--max-per-class", type=int, default=None, help="use only N images per class (tests)")
    p.add_argument("--lock-text", action="store_true", help="freeze the text tower (--lock-text)")
    p.add_argument("--lock-image", action="store_true", help="freeze the image tower (--lock-image)")
    p.add_argument(
        "--lock-image-unlocked-groups", type=int, default=0, help="with --lock-image: train the last N groups"
    )
    p.add_argument(
        "--lock-text-unlocked-layers", type=int, default=0, help="with --lock-text: train the last N layers"
    )
    p.add_argument("--save-frequency", type=int, default=1)
    args = p.parse_args(argv)

    run_dir = Path(args.output).resolve()
    if (run_dir / "out.log").exists():
        sys.exit(f"{run_dir} already holds a run (out.log); choose another --output or delete it")
    run_dir.mkdir(parents=True, exist_ok=True)
    train_csv, val_csv, config = prepare(run_dir, args.max_per_class)
    train_argv = [
        "--logs", str(run_dir.parent), "--name", run_dir.name,
        "--train-data", str(train_csv), "--val-data", str(val_csv),
        "--dataset-type", "csv", "--csv-separator", ",", "--csv-img-key", "filepath", "--csv-caption-key", "title",
        "--model", MODEL_NAME,
        "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
        "--lr", str(args.lr), "--wd", "0.1", "--warmup", "10",
        "--workers", "0", "--device", "cpu", "--precision", "fp32", "--seed", "0",
        "--save-frequency", str(args.save_frequency), "--save-most-recent", "--val-frequency", "1",
        "--log-every-n-steps", "1000",
    ]  # fmt: skip
    if args.lock_text:
        # open_clip's built-in text tower can only be locked with its LayerNorms frozen too
        train_argv += ["--lock-text", "--lock-text-freeze-layer-norm"]
        if args.lock_text_unlocked_layers:
            train_argv += ["--lock-text-unlocked-layers", str(args.lock_text_unlocked_layers)]
    if args.lock_image:
        train_argv.append("--lock-image")
        if args.lock_image_unlocked_groups:
            train_argv += ["--lock-image-unlocked-groups", str(args.lock_image_unlocked_groups)]
    launcher = Path(__file__).resolve().parent / "launch.py"
    cmd = [sys.executable, str(launcher), str(config), *train_argv]
    result = subprocess.run(cmd, check=False)
    if result.returncode != 0:
        sys.exit(f"open_clip_train failed (exit {result.returncode}); see {run_dir / 'out.log'}")
    print(f"run dir: {run_dir}")
    return run_dir


if __name__ == "__main__":
    main()
