"""MMEngine configs read without running them; MMPreTrain work_dirs read into a TrainingRun."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hubkit.errors import RunFileError
from hubkit.runs import read_run
from hubkit.runs.mmconfig import read_config
from hubkit.runs.mmengine_safe import load_mmengine_checkpoint

MIM = Path(pytest.importorskip("mmpretrain").__file__).parent / ".mim" / "configs"
Config = pytest.importorskip("mmengine.config").Config


def _same(mine: object, theirs: object) -> bool:
    def norm(x: object) -> object:
        if isinstance(x, dict):
            return {k: norm(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [norm(v) for v in x]
        return x

    return norm(mine) == norm(theirs)


# Shipped configs of the card families, plus _base_ chains with _delete_, {{_base_.x}}, slices and
# comprehensions of pure builtins ([round(x) for x in bgr_mean]).
SHIPPED = [
    "resnet/resnet50_8xb256-rsb-a1-600e_in1k.py",
    "resnet/resnet18_8xb32_in1k.py",
    "mae/mae_vit-base-p16_8xb512-amp-coslr-300e_in1k.py",
    "swin_transformer/swin-tiny_16xb64_in1k.py",
    "convnext_v2/convnext-v2-huge_32xb32_in1k-512px.py",
    "deit/deit-small_4xb256_in1k.py",
    "efficientnet/efficientnet-b0_8xb32_in1k.py",
    "mobilenet_v3/mobilenet-v3-small_8xb128_in1k.py",
    "beit/benchmarks/beit-base-p16_8xb128-coslr-100e_in1k.py",
    "mocov3/mocov3_resnet50_8xb512-amp-coslr-100e_in1k.py",
    "vision_transformer/vit-base-p16_32xb128-mae_in1k.py",
    "swin_transformer_v2/swinv2-base-w16_16xb64_in1k-256px.py",
]


@pytest.mark.parametrize("rel", SHIPPED)
def test_shipped_configs_read_as_mmengine_resolves_them(rel: str) -> None:
    path = MIM / rel
    if not path.is_file():
        pytest.skip(f"{rel} is not in this mmpretrain")
    assert _same(read_config(path), Config.fromfile(str(path)).to_dict())


def test_code_in_a_config_is_refused_not_run(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    for body in (
        f"import os\nos.system('touch {canary}')\n",
        f"x = __import__('os').system('touch {canary}')\n",
        f"model = dict(type=open('{canary}', 'w'))\n",
        "for i in range(3):\n    pass\n",
        "lr = (0.1).__class__\n",
    ):
        path = tmp_path / "evil.py"
        path.write_text(body)
        with pytest.raises(RunFileError, match=r"evil\.py line \d+: .*does not execute"):
            read_config(path)
    assert not canary.exists()


def test_work_dir_reads_into_a_training_run(mmpretrain_work_dir: Path) -> None:
    run = read_run(mmpretrain_work_dir)
    assert (run.framework, run.name, run.architecture, run.num_classes) == (
        "mmpretrain",
        "digits_resnet18",
        "resnet18",
        10,
    )
    assert [c.epoch for c in run.checkpoints] == [1, 2, 3]
    assert [m.epoch for m in run.epochs] == [1, 2, 3]
    assert run.primary_metric == "accuracy/top1" and run.higher_is_better
    assert "last_checkpoint" in run.checkpoint(3).aliases
    best = next(
        c for c in run.checkpoints if any(a.startswith("best_accuracy_top1_epoch_") for a in c.aliases)
    )
    assert best.epoch == run.best_epoch()
    assert any("2 starts merged" in n for n in run.notes)
    # validation rows use step = epoch: every epoch's top-1 is the one the log wrote for it
    rows = [
        json.loads(line)
        for start in sorted(mmpretrain_work_dir.glob("2*/vis_data/scalars.json"))
        for line in start.read_text().splitlines()
    ]
    val = {r["step"]: r["accuracy/top1"] for r in rows if "accuracy/top1" in r}
    assert {m.epoch: m.get("accuracy/top1") for m in run.epochs} == val
    h = run.hyperparams
    assert (h.optimizer, h.lr, h.momentum, h.schedule, h.epochs, h.batch_size) == (
        "sgd",
        0.1,
        0.9,
        "cosine",
        3,
        16,
    )
    assert (h.warmup_epochs, h.ema, h.precision, h.frozen_stages, h.seed) == (1.0, False, "fp32", -1, 0)
    assert h.augmentation == "RandomResizedCrop"
    assert run.val_data == str(mmpretrain_work_dir.parent / "data" / "val")
    assert run.eval_transform is not None and run.eval_transform.input_size == (3, 32, 32)


def test_checkpoints_match_the_config_dump(mmpretrain_work_dir: Path) -> None:
    run = read_run(mmpretrain_work_dir)
    ckpt = load_mmengine_checkpoint(run.checkpoint(3).path)
    assert ckpt["meta"]["epoch"] == 3
    assert ckpt["meta"]["dataset_meta"]["classes"][:2] == ("zero", "one")
    assert set(ckpt) >= {"meta", "state_dict", "message_hub", "optimizer", "param_schedulers"}


def test_moved_work_dir_is_re_rooted(mmpretrain_work_dir: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere" / "work_dir"
    shutil.copytree(mmpretrain_work_dir, moved)
    shutil.copytree(mmpretrain_work_dir.parent / "data", moved.parent / "data")
    # the recorded paths now point to a machine that is gone
    gone = "/nonexistent/trainer/run"
    for config in [*moved.glob("*.py"), *moved.glob("2*/vis_data/config.py")]:
        text = config.read_text().replace(str(mmpretrain_work_dir.parent), gone)
        config.write_text(text)
    (moved / "last_checkpoint").write_text(f"{gone}/work_dir/epoch_3.pth")
    run = read_run(moved)
    assert run.val_data == str(moved.parent / "data" / "val")
    assert Path(run.val_data).is_dir()
    assert "last_checkpoint" in run.checkpoint(3).aliases
    assert any("re-rooted" in n for n in run.notes)
