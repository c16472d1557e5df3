#!/usr/bin/env python3
"""Train a tiny timm model on scikit-learn's digits and leave a genuine timm ``train.py`` run dir.

The loop is a condensed timm ``train.py``: the same argument names (the full namespace goes to
``args.yaml``), ``create_model``, ``create_optimizer_v2``, ``create_scheduler_v2``, ``ModelEmaV3``,
``CheckpointSaver`` and ``update_summary``. Evaluation runs on the ``val`` image folder with timm's eval
transforms, on the EMA model when EMA is on, exactly as ``train.py`` does, so ``summary.csv``'s
``eval_top1`` can be reproduced from the saved weights.

    python examples/timm_digits/train.py --output runs/timm-digits            # ~30 s on 2 CPU cores
    python examples/timm_digits/train.py --output runs/x --epochs 3 --no-model-ema --checkpoint-hist 2
    python examples/timm_digits/train.py --output runs/ft --initial-checkpoint runs/timm-digits/last.pth.tar \
        --lock --lock-unlocked-groups 1 --lock-freeze-bn-stats     # fine-tune the head, trunk frozen

``--lock`` is not a timm ``train.py`` option (timm has none for freezing): it freezes the model the way
OpenCLIP's ``TimmModel.lock`` freezes a timm tower, with timm's own ``group_matcher`` groups: every group
but the last ``--lock-unlocked-groups`` gets ``requires_grad=False``; ``--lock-freeze-bn-stats`` keeps the
BatchNorm layers of the frozen groups in eval mode so their running statistics stay as loaded (without
it they keep updating, which ``hubkit dynamics`` reports). The settings land in ``args.yaml``.

Writes into ``--output``: ``data/{train,val}/<class>/*.png``, ``args.yaml``, ``summary.csv``,
``checkpoint-N.pth.tar`` (the best ``--checkpoint-hist`` by eval_top1), ``last.pth.tar``, ``model_best.pth.tar``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import OrderedDict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for digits_data

from digits_data import write_digits


class ParseKwargs(argparse.Action):
    """``key=value`` pairs into a dict, values read as Python literals (timm train.py's --model-kwargs)."""

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[no-untyped-def]
        import ast

        kwargs = {}
        for item in values:
            key, _, value = item.partition("=")
            try:
                kwargs[key] = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                kwargs[key] = value
        setattr(namespace, self.dest, kwargs)


def build_parser() -> argparse.ArgumentParser:
    """timm train.py's arguments (same names and meanings), with defaults sized for the digits."""
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[1], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--output", required=True, help="run dir to create (becomes <output>/<experiment>)")
    p.add_argument("--max-per-class", type=int, default=None, help="use only N images per class (tests)")
    # dataset
    p.add_argument("--data-dir", default=None, help="image folder root (default: <output>/data, written)")
    p.add_argument("--dataset", default="")
    p.add_argument("--train-split", default="train")
    p.add_argument("--val-split", default="val")
    p.add_argument("--class-map", default="")
    # model
    p.add_argument("--model", default="test_resnet")
    p.add_argument("--pretrained", action="store_true", default=False)
    p.add_argument("--initial-checkpoint", default="")
    p.add_argument("--resume", default="")
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument("--gp", default=None)
    p.add_argument("--img-size", type=int, default=32)
    p.add_argument("--in-chans", type=int, default=None)
    p.add_argument("--input-size", default=None, nargs=3, type=int)
    p.add_argument("--crop-pct", default=None, type=float)
    p.add_argument("--mean", type=float, nargs="+", default=None)
    p.add_argument("--std", type=float, nargs="+", default=None)
    p.add_argument("--interpolation", default="")
    p.add_argument("-b", "--batch-size", type=int, default=64)
    p.add_argument("-vb", "--validation-batch-size", type=int, default=None)
    p.add_argument("--channels-last", action="store_true", default=False)
    p.add_argument("--grad-accum-steps", type=int, default=1)
    p.add_argument("--grad-checkpointing", action="store_true", default=False)
    p.add_argument(
        "--model-kwargs", nargs="*", default={}, action=ParseKwargs, help="e.g. img_size=32 (ViTs)"
    )
    # optimizer
    p.add_argument("--opt", default="adamw")
    p.add_argument("--opt-eps", default=None, type=float)
    p.add_argument("--opt-betas", default=None, type=float, nargs="+")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--clip-grad", type=float, default=None)
    p.add_argument("--clip-mode", default="norm")
    p.add_argument("--layer-decay", type=float, default=None)
    # schedule
    p.add_argument("--sched", default="cosine")
    p.add_argument("--sched-on-updates", action="store_true", default=False)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--lr-base", type=float, default=0.1)
    p.add_argument("--lr-base-size", type=int, default=256)
    p.add_argument("--lr-base-scale", default="")
    p.add_argument("--lr-noise", type=float, nargs="+", default=None)
    p.add_argument("--lr-noise-pct", type=float, default=0.67)
    p.add_argument("--lr-noise-std", type=float, default=1.0)
    p.add_argument("--lr-cycle-mul", type=float, default=1.0)
    p.add_argument("--lr-cycle-decay", type=float, default=0.5)
    p.add_argument("--lr-cycle-limit", type=int, default=1)
    p.add_argument("--lr-k-decay", type=float, default=1.0)
    p.add_argument("--warmup-lr", type=float, default=1e-4)
    p.add_argument("--min-lr", type=float, default=1e-5)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--epoch-repeats", type=float, default=0.0)
    p.add_argument("--start-epoch", default=None, type=int)
    p.add_argument("--decay-milestones", default=[90, 180, 270], type=int, nargs="+")
    p.add_argument("--decay-epochs", type=float, default=90)
    p.add_argument("--warmup-epochs", type=int, default=1)
    p.add_argument("--warmup-prefix", action="store_true", default=False)
    p.add_argument("--cooldown-epochs", type=int, default=0)
    p.add_argument("--patience-epochs", type=int, default=10)
    p.add_argument("--decay-rate", type=float, default=0.1)
    # augmentation and regularisation (mild: digits are 8x8 and not mirror-symmetric)
    p.add_argument("--no-aug", action="store_true", default=False)
    p.add_argument("--scale", type=float, nargs="+", default=[0.7, 1.0])
    p.add_argument("--ratio", type=float, nargs="+", default=[0.9, 1.1])
    p.add_argument("--hflip", type=float, default=0.0)
    p.add_argument("--vflip", type=float, default=0.0)
    p.add_argument("--color-jitter", type=float, default=0.0)
    p.add_argument("--aa", default=None)
    p.add_argument("--reprob", type=float, default=0.0)
    p.add_argument("--remode", default="pixel")
    p.add_argument("--recount", type=int, default=1)
    p.add_argument("--mixup", type=float, default=0.0)
    p.add_argument("--cutmix", type=float, default=0.0)
    p.add_argument("--cutmix-minmax", type=float, nargs="+", default=None)
    p.add_argument("--mixup-prob", type=float, default=1.0)
    p.add_argument("--mixup-switch-prob", type=float, default=0.5)
    p.add_argument("--mixup-mode", default="batch")
    p.add_argument("--mixup-off-epoch", default=0, type=int)
    p.add_argument("--smoothing", type=float, default=0.1)
    p.add_argument("--train-interpolation", default="bilinear")
    p.add_argument("--drop", type=float, default=0.0)
    p.add_argument("--drop-path", type=float, default=None)
    p.add_argument("--drop-block", type=float, default=None)
    # EMA
    p.add_argument("--model-ema", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--model-ema-force-cpu", action="store_true", default=False)
    p.add_argument("--model-ema-decay", type=float, default=0.99)
    p.add_argument("--model-ema-warmup", action=argparse.BooleanOptionalAction, default=True)
    # misc
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--log-interval", type=int, default=50)
    p.add_argument("--recovery-interval", type=int, default=0)
    p.add_argument("--checkpoint-hist", type=int, default=10)
    p.add_argument("-j", "--workers", type=int, default=0)
    p.add_argument("--amp", action="store_true", default=False)
    p.add_argument("--amp-dtype", default="float16")
    p.add_argument("--pin-mem", action="store_true", default=False)
    p.add_argument("--experiment", default="")
    p.add_argument("--eval-metric", default="top1")
    p.add_argument("--tta", type=int, default=0)
    p.add_argument("--log-wandb", action="store_true", default=False)
    # freezing (not in timm train.py; OpenCLIP TimmModel.lock's meaning, see the module docstring)
    p.add_argument("--lock", action="store_true", default=False, help="freeze all but the last groups")
    p.add_argument("--lock-unlocked-groups", type=int, default=0, help="groups left trainable (from the end)")
    p.add_argument("--lock-freeze-bn-stats", action="store_true", default=False)
    return p


def lock(model, unlocked_groups: int, freeze_bn_stats: bool) -> list:  # type: ignore[no-untyped-def]
    """Freeze every timm ``group_matcher`` group but the last ``unlocked_groups``; return the BatchNorm
    modules to keep in eval mode (those of frozen groups, when ``freeze_bn_stats``)."""
    import torch
    from timm.models import group_modules, group_parameters

    matcher = model.group_matcher()
    groups = group_parameters(model, matcher)
    last_frozen = max(groups) - unlocked_groups
    for lid, names in groups.items():
        if lid <= last_frozen:
            for name in names:
                model.get_parameter(name).requires_grad_(False)
    if not freeze_bn_stats:
        return []
    module_groups = group_modules(model, matcher, reverse=True)
    return [
        model.get_submodule(name)
        for name, lid in module_groups.items()
        if lid <= last_frozen and isinstance(model.get_submodule(name), torch.nn.modules.batchnorm._BatchNorm)
    ]


def validate(model, loader, loss_fn) -> OrderedDict:
    """timm train.py's validate(): mean loss, top-1 and top-5 (in %) over the loader."""
    import torch
    from timm.utils import AverageMeter, accuracy

    losses, top1, top5 = AverageMeter(), AverageMeter(), AverageMeter()
    model.eval()
    with torch.inference_mode():
        for images, target in loader:
            output = model(images)
            loss = loss_fn(output, target)
            acc1, acc5 = accuracy(output, target, topk=(1, 5))
            n = images.size(0)
            losses.update(loss.item(), n)
            top1.update(acc1.item(), n)
            top5.update(acc5.item(), n)
    return OrderedDict([("loss", losses.avg), ("top1", top1.avg), ("top5", top5.avg)])


def main(argv: list[str] | None = None) -> Path:
    """Train and return the run dir. ``argv`` as on the command line (the fixtures call this directly)."""
    import torch
    import yaml
    from timm.data import create_dataset, create_transform, resolve_data_config
    from timm.loss import LabelSmoothingCrossEntropy
    from timm.models import create_model, load_checkpoint
    from timm.optim import create_optimizer_v2
    from timm.scheduler import create_scheduler_v2
    from timm.utils import CheckpointSaver, ModelEmaV3, random_seed, update_summary

    args = build_parser().parse_args(argv)
    run_dir = Path(args.output).resolve()
    if (run_dir / "summary.csv").exists():
        sys.exit(f"{run_dir} already holds a run (summary.csv); choose another --output or delete it")
    run_dir.mkdir(parents=True, exist_ok=True)
    # train.py's layout is <output>/<experiment>; record it that way so args.yaml stays train.py-shaped.
    args.output, args.experiment = str(run_dir.parent), run_dir.name
    if args.data_dir is None:
        write_digits(run_dir / "data", max_per_class=args.max_per_class)
        args.data_dir = str(run_dir / "data")
    args.prefetcher = False
    args.distributed, args.world_size, args.rank, args.local_rank = False, 1, 0, 0
    args.device = "cpu"

    random_seed(args.seed, 0)
    torch.use_deterministic_algorithms(True, warn_only=True)
    model = create_model(
        args.model,
        pretrained=args.pretrained,
        in_chans=args.in_chans or 3,
        num_classes=args.num_classes,
        drop_rate=args.drop,
        drop_path_rate=args.drop_path,
        drop_block_rate=args.drop_block,
        global_pool=args.gp,
        **args.model_kwargs,
    )
    if args.initial_checkpoint:
        load_checkpoint(model, args.initial_checkpoint)  # timm's loader: weights_only=True, EMA if saved
    frozen_bn = lock(model, args.lock_unlocked_groups, args.lock_freeze_bn_stats) if args.lock else []
    data_config = resolve_data_config(vars(args), model=model, verbose=False)
    # create_dataset looks for the split folders under data_dir, as in train.py
    dataset_train = create_dataset(args.dataset, root=args.data_dir, split=args.train_split, is_training=True)
    dataset_eval = create_dataset(args.dataset, root=args.data_dir, split=args.val_split, is_training=False)
    dataset_train.transform = create_transform(
        data_config["input_size"],
        is_training=not args.no_aug,
        scale=args.scale,
        ratio=args.ratio,
        hflip=args.hflip,
        vflip=args.vflip,
        color_jitter=args.color_jitter,
        auto_augment=args.aa,
        interpolation=args.train_interpolation,
        mean=data_config["mean"],
        std=data_config["std"],
        re_prob=args.reprob,
    )
    dataset_eval.transform = create_transform(**data_config, is_training=False)
    generator = torch.Generator().manual_seed(args.seed)
    loader_train = torch.utils.data.DataLoader(
        dataset_train, batch_size=args.batch_size, shuffle=True, drop_last=True, generator=generator
    )
    loader_eval = torch.utils.data.DataLoader(
        dataset_eval, batch_size=args.validation_batch_size or args.batch_size
    )

    optimizer = create_optimizer_v2(
        model, opt=args.opt, lr=args.lr, weight_decay=args.weight_decay, momentum=args.momentum
    )
    model_ema = None
    if args.model_ema:
        model_ema = ModelEmaV3(model, decay=args.model_ema_decay, use_warmup=args.model_ema_warmup)
    updates_per_epoch = len(loader_train)
    lr_scheduler, num_epochs = create_scheduler_v2(
        optimizer,
        sched=args.sched,
        num_epochs=args.epochs,
        warmup_epochs=args.warmup_epochs,
        warmup_lr=args.warmup_lr,
        min_lr=args.min_lr,
        cooldown_epochs=args.cooldown_epochs,
        step_on_epochs=not args.sched_on_updates,
        updates_per_epoch=updates_per_epoch,
    )
    train_loss_fn = (
        LabelSmoothingCrossEntropy(smoothing=args.smoothing)
        if args.smoothing
        else torch.nn.CrossEntropyLoss()
    )
    validate_loss_fn = torch.nn.CrossEntropyLoss()

    decreasing = args.eval_metric == "loss"
    saver = CheckpointSaver(
        model=model,
        optimizer=optimizer,
        args=args,
        model_ema=model_ema,
        checkpoint_dir=str(run_dir),
        recovery_dir=str(run_dir),
        decreasing=decreasing,
        max_history=args.checkpoint_hist,
    )
    with open(run_dir / "args.yaml", "w") as f:
        f.write(yaml.safe_dump(args.__dict__, default_flow_style=False))

    num_updates = 0
    for epoch in range(num_epochs):
        start = time.time()
        model.train()
        for module in frozen_bn:
            module.eval()  # frozen BatchNorm statistics (--lock-freeze-bn-stats)
        loss_sum, seen = 0.0, 0
        for images, target in loader_train:
            loss = train_loss_fn(model(images), target)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            num_updates += 1
            if model_ema is not None:
                model_ema.update(model, step=num_updates)
            lr_scheduler.step_update(num_updates=num_updates)
            loss_sum += loss.item() * images.size(0)
            seen += images.size(0)
        train_metrics = OrderedDict([("loss", loss_sum / max(seen, 1))])
        eval_metrics = validate(model, loader_eval, validate_loss_fn)
        if model_ema is not None and not args.model_ema_force_cpu:
            # as train.py: with EMA on, the EMA model's metrics are the ones recorded and ranked
            eval_metrics = validate(model_ema, loader_eval, validate_loss_fn)
        lr_scheduler.step(epoch + 1, eval_metrics[args.eval_metric])
        lrl = [group["lr"] for group in optimizer.param_groups]
        update_summary(
            epoch, train_metrics, eval_metrics, filename=str(run_dir / "summary.csv"), lr=sum(lrl) / len(lrl)
        )
        best_metric, best_epoch = saver.save_checkpoint(epoch, metric=eval_metrics[args.eval_metric])
        print(
            f"epoch {epoch}: train_loss {train_metrics['loss']:.4f} eval_loss {eval_metrics['loss']:.4f} "
            f"eval_top1 {eval_metrics['top1']:.2f} ({time.time() - start:.1f}s)",
            flush=True,
        )
    print(f"*** best {args.eval_metric}: {best_metric} (epoch {best_epoch}); run dir: {run_dir}")
    return run_dir


if __name__ == "__main__":
    main()
