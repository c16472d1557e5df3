"""A work_dir trained by MMPreTrain's own runner publishes to the local hub and verifies through MMPreTrain."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from cli_run import hubkit
from huggingface_hub import HfApi, ModelCard
from safetensors import safe_open

from hubkit.hub import LocalHub
from hubkit.runs import read_run
from hubkit.runs.mmengine_safe import load_mmengine_checkpoint

TOKEN = "hubkit-test-token-123"
pytestmark = pytest.mark.slow


def _publish(work_dir: Path, hub: LocalHub, repo: str) -> dict[str, Any]:
    code, out, err = hubkit(
        "publish", str(work_dir), "--repo", repo, "--select", "all", "--device", "cpu",
        "--endpoint", hub.endpoint, "--token", TOKEN, "--json",
    )  # fmt: skip
    assert code == 0 and out.startswith("{"), repr(out[:500]) + err[-2000:]
    return json.loads(out)


def test_work_dir_publishes_reloads_and_verifies(mmpretrain_work_dir: Path, hub: LocalHub) -> None:
    repo = "localuser/mmpretrain-digits"
    report = _publish(mmpretrain_work_dir, hub, repo)
    assert [(r["revision"], r["verified"]) for r in report["revisions"]] == [
        ("epoch-001", True), ("epoch-002", True), ("epoch-003", True)
    ]  # fmt: skip
    api = HfApi(endpoint=hub.endpoint, token=TOKEN)
    run = read_run(mmpretrain_work_dir)
    for epoch in (1, 2, 3):
        rev = f"epoch-{epoch:03d}"
        files = set(api.list_repo_files(repo, revision=rev))
        assert {
            "model.safetensors",
            "config.json",
            "config.py",
            "model.pth",
            "hubkit.json",
            "README.md",
        } <= files
        # the slim .pth loads with stock torch, weights_only, into exactly that epoch's state_dict
        slim = torch.load(api.hf_hub_download(repo, "model.pth", revision=rev), weights_only=True)
        assert set(slim) == {"meta", "state_dict"} and slim["meta"]["epoch"] == epoch
        source = load_mmengine_checkpoint(run.checkpoint(epoch).path)["state_dict"]
        assert slim["state_dict"].keys() == source.keys()
        assert all(torch.equal(slim["state_dict"][k], source[k]) for k in source)
        with safe_open(api.hf_hub_download(repo, "model.safetensors", revision=rev), "pt") as f:
            assert json.loads(f.metadata()["classes"])[:3] == ["zero", "one", "two"]

    # hubkit verify: fresh download, MMPreTrain's get_model on the downloaded files, bitwise, quick eval
    code, out, err = hubkit(
        "verify", repo, "--all", "--run", str(mmpretrain_work_dir), "--device", "cpu", "--workers", "0",
        "--endpoint", hub.endpoint, "--token", TOKEN, "--json",
    )  # fmt: skip
    assert code == 0, err + out
    for result in json.loads(out):
        assert result["passed"] and result["library"] == "mmpretrain", result
        assert not result["integrity"]["mismatches"]
        top1 = next(c for c in result["checks"] if c["name"] == "top1")
        assert top1["recorded"] is not None and abs(top1["measured"] - top1["recorded"]) <= 0.5

    card = ModelCard.load(api.hf_hub_download(repo, "README.md"))
    assert card.data.library_name == "mmpretrain"

    # a second publish changes nothing
    again = _publish(mmpretrain_work_dir, hub, repo)
    assert again["commits"] == 0 and again["uploaded_bytes"] == 0
    assert {r["status"] for r in again["revisions"]} == {"unchanged"}


def test_moved_work_dir_publishes(mmpretrain_work_dir: Path, hub: LocalHub, tmp_path: Path) -> None:
    moved = tmp_path / "other-machine" / "work_dir"
    shutil.copytree(mmpretrain_work_dir, moved)
    shutil.copytree(mmpretrain_work_dir.parent / "data", moved.parent / "data")
    for config in [*moved.glob("*.py"), *moved.glob("2*/vis_data/config.py")]:
        config.write_text(config.read_text().replace(str(mmpretrain_work_dir.parent), "/gone/trainer"))
    (moved / "last_checkpoint").write_text("/gone/trainer/work_dir/epoch_3.pth")
    report = _publish(moved, hub, "localuser/mmpretrain-moved")
    assert [r["verified"] for r in report["revisions"]] == [True, True, True]


def test_card_usage_snippet_runs_as_written(mmpretrain_work_dir: Path, hub: LocalHub, tmp_path: Path) -> None:
    import os
    import re
    import subprocess
    import sys

    repo = "localuser/mmpretrain-usage"
    code, _out, err = hubkit(
        "publish", str(mmpretrain_work_dir), "--repo", repo, "--select", "last", "--device", "cpu",
        "--endpoint", hub.endpoint, "--token", TOKEN, "--json",
    )  # fmt: skip
    assert code == 0, err
    api = HfApi(endpoint=hub.endpoint, token=TOKEN)
    card = Path(api.hf_hub_download(repo, "README.md")).read_text()
    snippet = re.search(r"```python\n(.*?)```", card, re.DOTALL)
    assert snippet is not None and "get_model(hf_hub_download(" in snippet.group(1)
    script = (
        snippet.group(1)
        + "\nassert logits.shape == (1, 10), logits.shape\nprint('loaded', type(model).__name__)\n"
    )
    env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_TOKEN": TOKEN, "HF_HOME": str(tmp_path / "hf")}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "loaded ImageClassifier" in done.stdout


def _zoo_release(folder: Path, *, damage: bool = False) -> Path:
    """A file named as MMPreTrain names its releases, {name}_{date}-{hash8}.pth (weights: a fresh model)."""
    import hashlib

    from mmpretrain import get_model

    folder.mkdir(parents=True)
    tmp = folder / "weights.tmp"
    model = get_model("resnet18_8xb32_in1k")  # built offline from the wheel's config, random weights
    torch.save({"meta": {"epoch": 100}, "state_dict": model.state_dict()}, tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]
    if damage:
        digest = f"{(int(digest, 16) ^ 1):08x}"
    return tmp.rename(folder / f"resnet18_8xb32_in1k_20210831-{digest}.pth")


def test_zoo_release_publishes_with_its_metafile_facts(hub: LocalHub, tmp_path: Path) -> None:
    file = _zoo_release(tmp_path / "zoo" / "resnet18")
    run = read_run(file.parent)
    assert (run.name, run.architecture, run.metrics(100).get("accuracy/top1")) == (
        "resnet18_8xb32_in1k",
        "resnet18",
        69.9,
    )
    repo = "localuser/resnet18-zoo"
    code, _out, err = hubkit(
        "publish", str(file.parent), "--repo", repo, "--device", "cpu", "--no-verify",
        "--endpoint", hub.endpoint, "--token", TOKEN, "--json",
    )  # fmt: skip
    assert code == 0, err
    api = HfApi(endpoint=hub.endpoint, token=TOKEN)
    slim = torch.load(api.hf_hub_download(repo, "model.pth"), weights_only=True)
    source = torch.load(file, weights_only=True)["state_dict"]
    assert all(torch.equal(slim["state_dict"][k], source[k]) for k in source)
    config = Path(api.hf_hub_download(repo, "config.py")).read_text()
    assert "_base_" not in config and "depth=18" in config  # the wheel's config, resolved


def test_zoo_release_with_a_wrong_hash_is_refused(tmp_path: Path) -> None:
    from hubkit.errors import CheckpointError

    file = _zoo_release(tmp_path / "zoo", damage=True)
    with pytest.raises(CheckpointError, match=r"sha256 .* its name says"):
        read_run(file.parent)
