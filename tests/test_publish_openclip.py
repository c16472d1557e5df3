"""hubkit publish on a real (tiny) open_clip_train run: branches load with OpenCLIP into the checkpoint weights."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_run import hubkit
from huggingface_hub import HfApi, ModelCard

from hubkit.hub import LocalHub

TOKEN = "hubkit-test-token-123"
REPO = "localuser/openclip-digits"


@pytest.fixture(scope="module")
def openclip_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    with LocalHub(tmp_path_factory.mktemp("publish-openclip-hub"), token=TOKEN) as server:
        yield server


@pytest.fixture(scope="module")
def published(openclip_hub: LocalHub, openclip_run_dir: Path) -> dict[str, Any]:
    argv = ["publish", str(openclip_run_dir), "--endpoint", openclip_hub.endpoint, "--token", TOKEN]
    argv += ["--repo", REPO, "--select", "epochs:1", "--json", "--device", "cpu"]
    code, out, err = hubkit(*argv)
    assert not code, err
    return json.loads(out)


def _state_dict_of_checkpoint(path: Path) -> dict[str, Any]:
    from hubkit.runs import load_checkpoint

    state = load_checkpoint(path)["state_dict"]
    return {k.removeprefix("module."): v for k, v in state.items()}


def test_openclip_branches_and_main_load_into_the_checkpoint_weights(
    published: dict[str, Any], openclip_hub: LocalHub, openclip_run_dir: Path, tmp_path: Path
) -> None:
    import open_clip
    import torch

    assert [(r["revision"], r["status"]) for r in published["revisions"]] == [
        ("epoch-001", "published"),
        ("epoch-003", "published"),
    ]
    assert published["main"]["epoch"] == 3
    api = HfApi(endpoint=openclip_hub.endpoint, token=TOKEN)
    for revision, epoch in (("epoch-001", 1), ("main", 3)):
        local = api.snapshot_download(REPO, revision=revision, cache_dir=tmp_path / "dl")
        assert {"open_clip_model.safetensors", "open_clip_config.json", "hubkit.json", "README.md"} <= {
            p.name for p in Path(local).iterdir()
        }
        model, _, _ = open_clip.create_model_and_transforms(f"local-dir:{local}")
        expected = _state_dict_of_checkpoint(openclip_run_dir / "checkpoints" / f"epoch_{epoch}.pt")
        state = model.state_dict()
        assert set(state) == set(expected), revision
        assert all(torch.equal(state[k], expected[k]) for k in expected), revision
        card = ModelCard((Path(local) / "README.md").read_text())
        assert card.data.library_name == "open_clip"


def test_openclip_main_has_curves_and_verified_branches(
    published: dict[str, Any], openclip_hub: LocalHub
) -> None:
    api = HfApi(endpoint=openclip_hub.endpoint, token=TOKEN)
    assert "training_curves.png" in api.list_repo_files(REPO)
    assert all(r["verified"] is True for r in published["revisions"])
