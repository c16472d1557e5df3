#!/usr/bin/env python3
"""Train ResNet-18 at 32 px on scikit-learn's digits with MMPreTrain's own runner; leave a real work_dir.

The config written to ``<work_dir>/../digits_resnet18.py`` is an ordinary MMPreTrain config (ImageClassifier,
``CustomDataset`` over the digits PNG folders, SGD + cosine, ``CheckpointHook(interval=1, save_best='auto')``,
``LocalVisBackend``); training runs ``tools/train.py`` as shipped inside the mmpretrain wheel
(``mmpretrain/.mim/tools/train.py``), in a subprocess, exactly as a user would start it.

    python examples/mmpretrain_digits/train.py --output runs/mmpretrain-digits     # ~10 s on 2 CPU cores
    python examples/mmpretrain_digits/train.py --output runs/x --epochs 4 --resume-at 2 --ema

``--resume-at N`` stops after N epochs and resumes to ``--epochs`` (``--resume auto``), so the work_dir has
two ``<timestamp>/`` folders, as a resumed run does. Writes into ``--output``: ``data/{train,val}/<class>/*.png``
and ``work_dir/`` (``digits_resnet18.py``, ``epoch_N.pth``, ``best_accuracy_top1_epoch_N.pth``,
``last_checkpoint``, ``<timestamp>/vis_data/scalars.json`` …).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for digits_data

from digits_data import CLASS_NAMES, write_digits

CONFIG_NAME = "digits_resnet18.py"

# An MMPreTrain config is Python; this one uses literals only, like the configs the zoo ships.
CONFIG = """\
# ResNet-18 on scikit-learn's digits at 32 px (hubkit example; trained by MMPreTrain's tools/train.py).
default_scope = 'mmpretrain'
data_root = {data_root!r}
classes = {classes!r}

model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(3, ), style='pytorch',
                  frozen_stages={frozen_stages}),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
    ))
data_preprocessor = dict(
    num_classes=10,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True,
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(32, 32)),
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.85, 1.0)),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(32, 32)),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size={batch_size},
    num_workers=0,
    persistent_workers=False,
    dataset=dict(type='CustomDataset', data_root=data_root, data_prefix='train',
                 metainfo=dict(classes=classes), pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=64,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(type='CustomDataset', data_root=data_root, data_prefix='val',
                 metainfo=dict(classes=classes), pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(type='SGD', lr={lr}, momentum=0.9, weight_decay=0.0001))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.25, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max={cosine_epochs}, by_epoch=True, begin=1, end={epochs}),
]
train_cfg = dict(by_epoch=True, max_epochs={epochs}, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size={batch_size})

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, save_best='auto'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
)
custom_hooks = {custom_hooks}
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
"""


def tools_train() -> Path:
    """The ``tools/train.py`` shipped inside the installed mmpretrain wheel."""
    import importlib.util

    spec = importlib.util.find_spec("mmpretrain")
    if spec is None or spec.origin is None:
        raise SystemExit("mmpretrain is not installed: pip install -c constraints.txt -e '.[mmpretrain]'")
    return Path(spec.origin).parent / ".mim" / "tools" / "train.py"


def write_config(path: Path, data_root: Path, args: argparse.Namespace) -> Path:
    """Write the MMPreTrain config (literals only, like the zoo's configs)."""
    epochs = args.epochs
    ema = "[dict(type='EMAHook', momentum=0.02, priority='ABOVE_NORMAL')]" if args.ema else "[]"
    path.write_text(
        CONFIG.format(
            data_root=str(data_root),
            classes=tuple(CLASS_NAMES),
            batch_size=args.batch_size,
            lr=args.lr,
            epochs=epochs,
            cosine_epochs=max(epochs - 1, 1),
            frozen_stages=args.frozen_stages,
            custom_hooks=ema,
        ),
        encoding="utf-8",
    )
    return path


# On torch >= 2.6, MMEngine 0.10.7 cannot resume from its own checkpoints: torch.load's weights_only
# default refuses the HistoryBuffer, numpy and getattr globals of its message_hub (mmengine #1655, fix
# unmerged). Resuming this example's *own* checkpoint, tools/train.py is started with those globals allowed,
# getattr only as HistoryBuffer's statistics. (hubkit itself never loads MMEngine checkpoints this way:
# hubkit.runs.mmengine_safe uses inert stand-ins.)
RESUME_LAUNCHER = """
import pickle, runpy, sys
import numpy as np, torch
from mmengine.logging.history_buffer import HistoryBuffer

def statistic(owner, name):
    if owner is HistoryBuffer and name in ('min', 'max', 'current', 'mean'):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(f'getattr({owner!r}, {name!r}) refused')

torch.serialization.add_safe_globals([
    HistoryBuffer, (statistic, '__builtin__.getattr'), (statistic, 'builtins.getattr'),
    np.ndarray, np.dtype, np._core.multiarray._reconstruct, np._core.multiarray.scalar,
    *(type(np.dtype(c)) for c in 'bhilqefdBHILQ?'),
])
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
"""


def run_train(config: Path, work_dir: Path, *, resume: bool = False, stop_at: int | None = None) -> None:
    """Start MMPreTrain's ``tools/train.py`` (single process, CPU unless CUDA is visible)."""
    cmd = [sys.executable, str(tools_train()), str(config), "--work-dir", str(work_dir)]
    if resume:
        cmd[1:1] = ["-c", RESUME_LAUNCHER]
        cmd += ["--resume", "auto"]
    if stop_at is not None:  # the same schedule, stopped early (as a killed run would be)
        cmd += ["--cfg-options", f"train_cfg.max_epochs={stop_at}"]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"tools/train.py failed with exit code {done.returncode}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    p.add_argument("--output", required=True, help="folder to create (data/ and work_dir/ go inside)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--resume-at", type=int, default=None, help="stop after N epochs, then resume")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--ema", action="store_true", help="add MMEngine's EMAHook")
    p.add_argument("--frozen-stages", type=int, default=-1)
    p.add_argument("--max-per-class", type=int, default=None, help="use only N images per class (tests)")
    return p


def main(argv: list[str] | None = None) -> Path:
    """Train and return the work_dir."""
    args = build_parser().parse_args(argv)
    out = Path(args.output).resolve()
    data_root = out / "data"
    write_digits(data_root, max_per_class=args.max_per_class)
    work_dir = out / "work_dir"
    config_dir = out / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    config = write_config(config_dir / CONFIG_NAME, data_root, args)
    if args.resume_at is not None and 0 < args.resume_at < args.epochs:
        run_train(config, work_dir, stop_at=args.resume_at)
        time.sleep(1.1)  # timestamp folders have one-second resolution
        run_train(config, work_dir, resume=True)
    else:
        run_train(config, work_dir)
    print(f"trained {args.epochs} epochs in {time.perf_counter() - start:.1f} s -> {work_dir}")
    return work_dir


if __name__ == "__main__":
    main()
