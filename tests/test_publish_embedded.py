"""The README's main job: ``hubkit publish RUN_DIR`` with no endpoint and no token uses the embedded local hub.

HUBKIT_HOME is isolated per test by conftest, so the hub's data lands in a fresh folder.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.request import urlopen

from huggingface_hub import HfApi

from hubkit.hub import LocalHub, default_data_dir
from hubkit.publish.naming import default_repo_id
from hubkit.runs import read_run

HUBKIT = str(Path(sys.executable).parent / "hubkit")


def test_publish_without_endpoint_or_token_uses_the_local_hub_and_says_how_to_load(
    timm_run_dir: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_ENDPOINT", "HF_TOKEN")}
    done = subprocess.run(
        [HUBKIT, "publish", str(timm_run_dir), "--select", "last"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    repo = default_repo_id(read_run(timm_run_dir).name)
    out = done.stdout
    assert "Published to http://127.0.0.1:" in out and repo in out
    load = re.search(
        rf'HF_ENDPOINT=http://127\.0\.0\.1:(\d+) python -c .*timm\.create_model\("hf-hub:{repo}@epoch-004"',
        out,
    )
    assert load is not None
    # The restart hint names the same port, so the printed HF_ENDPOINT lines work again afterwards.
    assert f"hubkit hub serve --port {load.group(1)}" in out
    assert "epoch-004" in out and "verified" in out

    with LocalHub(default_data_dir()) as hub:  # the data outlives the command
        branches = {b.name for b in HfApi(endpoint=hub.endpoint).list_repo_refs(repo).branches}
        # ... and what the summary says to open in a browser is there: the model page with the run's card.
        page = urlopen(f"{hub.endpoint}/{repo}").read().decode()
    assert f"then open http://127.0.0.1:{load.group(1)}/{repo} in a browser" in out
    assert 'id="model-card"' in page and "training_curves.png" in page
    assert branches == {"main", "epoch-004"}
    assert Path(default_data_dir()).is_relative_to(Path(os.environ["HUBKIT_HOME"]))
