"""``hubkit publish --reference TAG``: the run card lists where the run departs from the tag's recipe."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cli_run import hubkit
from huggingface_hub import HfApi

from hubkit.hub import LocalHub

TOKEN = "hubkit-test-token-ref"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    with LocalHub(tmp_path_factory.mktemp("reference-hub"), token=TOKEN) as server:
        yield server


def _publish(hub: LocalHub, run: Path, *args: str) -> tuple[int, str]:
    code, out, err = hubkit(
        "publish", str(run), "--endpoint", hub.endpoint, "--token", TOKEN, "--json", *args
    )
    return code, err + out


@pytest.mark.slow  # publishes the shared digits run to the local hub
def test_run_card_shows_the_difference_table(hub: LocalHub, timm_run_dir: Path) -> None:
    repo = "localuser/ref-a1"
    code, output = _publish(
        hub,
        timm_run_dir,
        "--repo",
        repo,
        "--select",
        "last",
        "--no-verify",
        "--reference",
        "resnet50.a1_in1k",
    )
    assert code == 0, output
    card = Path(HfApi(endpoint=hub.endpoint, token=TOKEN).hf_hub_download(repo, "README.md")).read_text()
    assert "## Compared with a reference recipe" in card
    assert "`resnet50.a1_in1k` (ResNet Strikes Back A1)" in card
    args = yaml.safe_load((timm_run_dir / "args.yaml").read_text())
    # the run's own record against RSB Table 1, row by row
    assert f"| `opt` | {args['opt']} | lamb | rsb-t1 |" in card
    assert f"| `epochs` | {args['epochs']} | 600 | rsb-t1 |" in card
    assert f"| `lr` | {args['lr']} | 0.005 | rsb-t1 |" in card
    assert f"| `batch_size` | {args['batch_size']} | 2048 (global) | rsb-t1 |" in card
    assert "Not compared, because no source gives the reference a value: `opt_eps`" in card
    json.loads(output[output.index("{") :])  # the --json report is intact


def test_a_reference_without_recipe_fails_before_any_remote_change(hub: LocalHub, tmp_path: Path) -> None:
    # checked with the other options, before the run is even read
    code, output = _publish(hub, tmp_path, "--repo", "localuser/ref-bad", "--reference", "vgg16.tv_in1k")
    assert code == 2 and "no reference recipe is known for 'vgg16.tv_in1k'" in output
    assert not HfApi(endpoint=hub.endpoint, token=TOKEN).repo_exists("localuser/ref-bad")
