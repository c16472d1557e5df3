"""Training dynamics of MMPreTrain models and runs, through ``MMPretrainFramework``'s own groups and lock.

- groups of real models built by ``mmpretrain.get_model`` (offline, no weights): ResNet-18 and a ViT;
- ``frozen_stages`` applied by the backbone's own ``_freeze_stages`` for every setting;
- a real work_dir made by MMPreTrain's runner with ``frozen_stages=1`` (the session's EMA variant): frozen
  groups found equal the groups the config freezes, buffers too; a config edited to claim more fails naming
  the group; ``hubkit dynamics WORK_DIR``; a publish gets main's "Training dynamics" section.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from fixtures_hub import HUB_TOKEN
from fixtures_mmpretrain import copy_work_dir

from hubkit import frameworks
from hubkit.cli import cli
from hubkit.dynamics import analyse_run
from hubkit.hub import LocalHub
from hubkit.runs.model import Hyperparams

pytestmark = pytest.mark.slow
STEM_L1 = ("backbone.stem", "backbone.layer1")
RESNET = [*STEM_L1, "backbone.layer2", "backbone.layer3", "backbone.layer4", "head"]


@pytest.fixture(scope="module")
def resnet18() -> object:
    mmpretrain = pytest.importorskip("mmpretrain")
    return mmpretrain.get_model("resnet18_8xb32_in1k", pretrained=False)  # ResNet calls .item(): no meta


def _frozen(model: object, stages: int) -> list[str]:
    framework = frameworks.get("mmpretrain")
    grouping = framework.layer_groups(model)  # type: ignore[arg-type]
    plan = framework.lock_plan(model, Hyperparams(frozen_stages=stages))  # type: ignore[arg-type]
    expectations = plan.expectations(grouping)
    assert all(e.buffers_frozen for e in expectations if e.frozen)  # frozen stages are kept in eval mode
    return [g.name for g, e in zip(grouping.groups, expectations, strict=True) if e.frozen]


def test_resnet18_groups_split_params_and_buffers(resnet18: object) -> None:
    import torch

    assert isinstance(resnet18, torch.nn.Module)
    grouping = frameworks.get("mmpretrain").layer_groups(resnet18)
    assert grouping.scheme == "mmpretrain backbone stages (resnet)"
    assert [g.name for g in grouping.groups] == RESNET
    state = resnet18.state_dict()
    params = {n for n, _ in resnet18.named_parameters()}
    grouped = [k for g in grouping.groups for k in (*g.params, *g.buffers)]
    assert sorted(grouped) == sorted(state)  # every tensor in exactly one group
    for group in grouping.groups:
        assert set(group.params) <= params and not set(group.buffers) & params
    stem = grouping.groups[0]
    assert set(stem.params) == {"backbone.conv1.weight", "backbone.bn1.weight", "backbone.bn1.bias"}
    assert {k.rsplit(".", 1)[1] for k in stem.buffers} == {
        "running_mean",
        "running_var",
        "num_batches_tracked",
    }


@pytest.mark.parametrize(
    ("stages", "frozen"),
    [(-1, []), (0, ["backbone.stem"]), (1, list(STEM_L1)), (4, RESNET[:-1])],
)
def test_resnet18_frozen_stages_as_its_own_freeze_stages_applies_them(
    resnet18: object, stages: int, frozen: list[str]
) -> None:
    assert _frozen(resnet18, stages) == frozen
    assert all(p.requires_grad for p in resnet18.parameters())  # type: ignore[attr-defined]  # untouched


def test_vit_groups_and_frozen_stages() -> None:
    mmpretrain = pytest.importorskip("mmpretrain")
    import torch

    with torch.device("meta"):
        model = mmpretrain.get_model("vit-base-p16_32xb128-mae_in1k", pretrained=False, device="meta")
    names = [g.name for g in frameworks.get("mmpretrain").layer_groups(model).groups]
    assert names == ["backbone.stem", *(f"backbone.stages.{i}" for i in range(12)), "backbone.post", "head"]
    assert _frozen(model, 2) == ["backbone.stem", "backbone.stages.0", "backbone.stages.1"]
    assert _frozen(model, 12) == names[:-1]  # every layer: the final norm too


@pytest.fixture(scope="module")
def frozen_run(mmpretrain_run_factory: Callable[..., Path]) -> Path:
    # the session's frozen_stages variant (shared with test_frameworks_mmpretrain.py): 2 epochs, EMA
    return mmpretrain_run_factory(ema=True, frozen_stages=1, epochs=2, resume_at=None)


def test_real_run_frozen_stages_found_as_the_config_implies(frozen_run: Path) -> None:
    report = analyse_run(frozen_run)
    assert report.framework == "mmpretrain" and report.lock_settings == ("frozen_stages=1",)
    assert [g.name for g in report.groups] == RESNET
    assert report.frozen_expected == report.frozen_observed == STEM_L1
    for group in report.groups:
        assert (group.params is not None and group.buffers is not None) or group.name == "head"
        if group.name in STEM_L1:  # frozen stages stay in eval mode: their BatchNorm statistics too
            assert group.buffers is not None and group.buffers.frozen
        elif group.buffers is not None:
            assert group.buffers.changed
    assert not [f for f in report.findings if f.failed]


def test_config_claiming_more_frozen_stages_fails_naming_the_group(frozen_run: Path, tmp_path: Path) -> None:
    work_dir = copy_work_dir(frozen_run, tmp_path / "work_dir")
    for config in work_dir.rglob("*.py"):
        text = config.read_text(encoding="utf-8")
        config.write_text(re.sub(r"frozen_stages=1\b", "frozen_stages=2", text), encoding="utf-8")
    report = analyse_run(work_dir)
    assert report.frozen_expected == (*STEM_L1, "backbone.layer2")
    failed = [f for f in report.findings if f.failed]
    assert [(f.group, f.kind) for f in failed] == [("backbone.layer2", "changed")]
    assert "frozen_stages=2" in failed[0].message


def test_cli_and_publish_show_the_dynamics(frozen_run: Path, hub: LocalHub, tmp_path: Path) -> None:
    from huggingface_hub import HfApi, ModelCard, hf_hub_download

    result = CliRunner().invoke(cli, ["dynamics", str(frozen_run), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["framework"] == "mmpretrain" and data["lock_settings"] == ["frozen_stages=1"]
    table = CliRunner().invoke(cli, ["dynamics", str(frozen_run)], catch_exceptions=False)
    assert table.exit_code == 0 and "backbone.layer1" in table.output, table.output

    repo = "localuser/mmpretrain-frozen"
    args = ["publish", str(frozen_run), "--repo", repo, "--select", "all", "--no-verify"]
    published = CliRunner().invoke(cli, [*args, "--endpoint", hub.endpoint, "--token", HUB_TOKEN])
    assert published.exit_code == 0, published.output
    api = HfApi(endpoint=hub.endpoint, token=HUB_TOKEN)
    assert "training_dynamics.png" in api.list_repo_files(repo)
    readme = hf_hub_download(repo, "README.md", endpoint=hub.endpoint, cache_dir=tmp_path)
    text = Path(readme).read_text(encoding="utf-8")
    section = text[text.index("## Training dynamics") :]
    assert "frozen_stages=1" in section and "backbone.layer1" in section
    ModelCard.load(readme)  # parses
    record = json.loads(
        Path(
            hf_hub_download(
                repo, "hubkit.json", revision="epoch-002", endpoint=hub.endpoint, cache_dir=tmp_path
            )
        ).read_text(encoding="utf-8")
    )
    assert set(STEM_L1) <= set(record["dynamics"]["frozen_groups"])
