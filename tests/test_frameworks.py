"""The framework layer: the registry, and a third framework added through the documented protocol only.

The toy framework (``tests/toy_framework.py``: a 2-layer MLP on sklearn's digits with its own run-dir
format and release files) is registered at run time with ``hubkit.frameworks.register``; no hubkit module
knows it. It is then published, verified and carded against the local hub like timm and OpenCLIP runs.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_run import hubkit
from huggingface_hub import HfApi, ModelCard
from toy_framework import ToyFramework, load_toy, train_toy_run

from hubkit import frameworks
from hubkit.errors import InputError, RunDirError
from hubkit.hub import LocalHub
from hubkit.runs import convert_checkpoint, read_run, select_checkpoints

TOKEN = "hubkit-test-token-123"


@pytest.fixture
def toy() -> Iterator[frameworks.Framework]:
    """The toy framework, registered for one test only."""
    framework = frameworks.register(ToyFramework)
    yield framework
    frameworks.unregister(framework.name)


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3-epoch toy run: toyrun.json, metrics.jsonl, ckpt_1..3.pt, val.npz (well under a second)."""
    return train_toy_run(tmp_path_factory.mktemp("runs") / "toy-digits")


def test_registry_looks_frameworks_up_by_name_tag_form_and_files(tmp_path: Path) -> None:
    assert frameworks.names()[:2] == ("timm", "open_clip")
    assert frameworks.get("open_clip").display_name == "OpenCLIP"
    assert frameworks.by_tag_form("openclip") is frameworks.get("open_clip")
    (tmp_path / "args.yaml").write_text("model: test_resnet\n")
    assert frameworks.detect_run(tmp_path) == (frameworks.get("timm"),)
    (tmp_path / "open_clip_config.json").write_text("{}")
    assert frameworks.detect_revision(tmp_path) is frameworks.get("open_clip")
    with pytest.raises(InputError, match="unknown framework 'mmdetection'"):
        frameworks.get("mmdetection")
    with pytest.raises(ValueError, match="already registered"):
        frameworks.register(frameworks.get("timm"))


def test_epoch_numbering_is_the_frameworks() -> None:
    timm, open_clip = frameworks.get("timm"), frameworks.get("open_clip")
    assert (timm.completed_epochs(3), open_clip.completed_epochs(3)) == (4, 3)
    assert timm.epochs_phrase(0) == "after 1 epoch (timm epoch 0)"
    assert open_clip.epochs_phrase(3) == "after 3 epochs"


def test_entry_points_add_frameworks_from_installed_packages(tmp_path: Path) -> None:
    # An installed distribution declaring the toy framework in the hubkit.frameworks group.
    info = tmp_path / "hubkit_toy-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hubkit-toy\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[hubkit.frameworks]\ntoy = toy_framework:ToyFramework\n")
    sys.path.insert(0, str(tmp_path))
    try:
        assert frameworks.discover(refresh=True) == ("toy",)
        assert frameworks.get("toy").weights_file == "toy_model.safetensors"
    finally:
        sys.path.remove(str(tmp_path))
        assert frameworks.discover(refresh=True) == ()
    with pytest.raises(InputError):
        frameworks.get("toy")


def test_an_unregistered_run_dir_is_refused_with_the_known_layouts(toy_run: Path) -> None:
    with pytest.raises(RunDirError, match="not a timm, OpenCLIP or MMPreTrain run dir") as info:
        read_run(toy_run)
    assert "open_clip: params.txt" in (info.value.hint or "")


def test_toy_run_is_read_selected_and_converted_through_the_protocol(
    toy: frameworks.Framework, toy_run: Path, tmp_path: Path
) -> None:
    run = read_run(toy_run)
    assert (run.framework, run.architecture, [c.epoch for c in run.checkpoints]) == (
        "toy",
        "toy_mlp",
        [1, 2, 3],
    )
    assert select_checkpoints(run, "every:2").epochs == (2,)  # epochs count from 1 (epoch_base = 1)
    done = convert_checkpoint(run, run.checkpoints[-1], tmp_path / "out")
    assert [f.path.name for f in done.files] == ["toy_model.safetensors", "toy_config.json"]
    assert (done.weights, done.epoch, done.framework) == ("raw", 3, "toy")
    model = load_toy(tmp_path / "out")
    assert sum(p.numel() for p in model.parameters()) == done.num_parameters


def test_toy_run_publishes_verifies_and_cards_on_the_local_hub(
    toy: frameworks.Framework, toy_run: Path, hub: LocalHub
) -> None:
    repo = "localuser/toy-digits"
    code, out, err = hubkit(
        "publish", str(toy_run), "--repo", repo, "--select", "all", "--device", "cpu",
        "--endpoint", hub.endpoint, "--token", TOKEN, "--json",
    )  # fmt: skip
    assert code == 0, err
    report: dict[str, Any] = json.loads(out)
    assert [(r["revision"], r["verified"]) for r in report["revisions"]] == [
        ("epoch-001", True), ("epoch-002", True), ("epoch-003", True)
    ]  # fmt: skip
    api = HfApi(endpoint=hub.endpoint, token=TOKEN)
    files = set(api.list_repo_files(repo, revision="epoch-002"))
    assert {"toy_model.safetensors", "toy_config.json", "hubkit.json", "README.md"} <= files

    # The cards: front matter from the framework, the usage partial from its template_dir, its load line.
    card = ModelCard.load(api.hf_hub_download(repo, "README.md"))
    assert card.data.library_name == "toy"
    assert card.data.pipeline_tag == "image-classification"
    final = read_run(toy_run).metrics(3)
    assert final is not None
    summary = "`toy_mlp` trained with ToyTrainer for 3 epochs on sklearn-digits (10 classes); this revision "
    summary += f"holds the raw training weights after 3 epochs (validation accuracy {100 * final.values['val_acc']:.2f} %)."
    assert summary in card.text
    assert card.data.eval_results[0].metric_name == "Validation accuracy"
    assert 'load_toy(huggingface_hub.snapshot_download("localuser/toy-digits"))' in card.text
    branch = ModelCard.load(api.hf_hub_download(repo, "README.md", revision="epoch-002"))
    assert "**After 2 of 3 epochs (`ckpt_2.pt`): an intermediate checkpoint" in branch.text
    row = re.search(r"^\| top1 \| ([\d.]+) \| ([\d.]+) \| 0\.5 \| yes \|$", card.text, re.MULTILINE)
    assert row is not None and row.group(1) == row.group(2), card.text  # re-measured = recorded val_acc
    record = json.loads(Path(api.hf_hub_download(repo, "hubkit.json", revision="epoch-002")).read_text())
    assert (record["run"]["framework"], record["run"]["epoch_base"], record["epoch"]) == ("toy", 1, 2)

    # hubkit verify: fresh download, the toy loader, bitwise against ckpt_N.pt, quick eval against val_acc.
    code, out, err = hubkit(
        "verify", repo, "--all", "--run", str(toy_run), "--device", "cpu", "--workers", "0",
        "--endpoint", hub.endpoint, "--token", TOKEN, "--json",
    )  # fmt: skip
    assert code == 0, err + out
    results = json.loads(out)
    assert sorted(r["revision"] for r in results) == ["epoch-001", "epoch-002", "epoch-003", "main"]
    for result in results:
        assert result["passed"] and result["library"] == "toy"
        assert result["integrity"]["tensors_compared"] == 4 and not result["integrity"]["mismatches"]
        top1 = next(c for c in result["checks"] if c["name"] == "top1")
        assert top1["recorded"] is not None and abs(top1["measured"] - top1["recorded"]) < 1e-6


def test_the_registry_loads_without_torch() -> None:
    # hubkit --help and hubkit decode stay fast: knowing the frameworks imports no model library.
    code = (
        "import sys; from hubkit import frameworks; frameworks.all_frameworks(); "
        "print(sorted(m for m in ('torch', 'timm', 'open_clip') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
