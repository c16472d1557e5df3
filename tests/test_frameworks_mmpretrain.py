"""MMPreTrain through the framework protocol: without the extra, names and work_dirs still work; the rest says
how to install it. Frozen stages reach the card."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest

from hubkit import frameworks
from hubkit.cards.runfacts import hyperparameters
from hubkit.errors import HubkitError
from hubkit.runs import read_run
from hubkit.tags import decode


def _without_mmpretrain(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: object, **kwargs: object) -> object:
        return (
            None if name.split(".")[0] in ("mmpretrain", "mmengine", "mmcv") else real(name, *args, **kwargs)
        )  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_without_the_extra_names_decode_and_building_says_how_to_install(
    mmpretrain_work_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = read_run(mmpretrain_work_dir)  # reading needs no MMPreTrain
    _without_mmpretrain(monkeypatch)
    assert decode("resnet50_8xb32_in1k").architecture.family.value == "ResNet"
    assert read_run(mmpretrain_work_dir).architecture == "resnet18"
    framework = frameworks.get("mmpretrain")
    with pytest.raises(HubkitError, match="MMPreTrain is not installed") as err:
        framework.architecture(run, mmpretrain_work_dir)
    assert "hubkit[mmpretrain]" in (err.value.hint or "")


@pytest.mark.slow
def test_frozen_stages_reach_the_card(mmpretrain_run_factory: Callable[..., Path]) -> None:
    run = read_run(mmpretrain_run_factory(ema=True, frozen_stages=1, epochs=2, resume_at=None))
    assert run.hyperparams.frozen_stages == 1
    rows = {row.name: row for row in hyperparameters(run)}
    assert rows["Frozen backbone stages"].value == "1"
    assert "model.backbone.frozen_stages" in rows["Frozen backbone stages"].source


@pytest.mark.slow
def test_ema_run_publishes_the_weights_its_metrics_were_measured_on(
    mmpretrain_run_factory: Callable[..., Path],
) -> None:
    from hubkit.runs.mmengine_safe import load_mmengine_checkpoint

    run = read_run(mmpretrain_run_factory(ema=True, frozen_stages=1, epochs=2, resume_at=None))
    framework = frameworks.get("mmpretrain")
    assert run.hyperparams.ema and framework.default_weights(run) == "ema"
    info = run.checkpoint(2)
    loaded = load_mmengine_checkpoint(info.path)
    ema, kind, epoch = framework.checkpoint_weights(run, info, loaded, info.path, None)
    raw, _, _ = framework.checkpoint_weights(run, info, loaded, info.path, "raw")
    assert (kind, epoch) == ("ema", 2)
    assert ema.keys() == raw.keys()
    # EMAHook swaps the averaged weights into state_dict before saving: those are what validation measured
    assert all(ema[k] is loaded["state_dict"][k] for k in ema)
    assert any(not (ema[k] == raw[k]).all() for k in ema if ema[k].is_floating_point())
