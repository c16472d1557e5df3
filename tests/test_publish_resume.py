"""A publish killed (SIGKILL) in the middle of an upload, then re-run, ends exactly like an uninterrupted one.

Two hubs get the same repo id: hub A an uninterrupted publish, hub B a publish killed while an LFS upload
is in flight (uploads slowed by the hub's fault injection) and then the same command again. Every ref's
file map (path -> sha256 / blob id) and every card must be equal; commit ids differ between hubs and
are masked in the texts that quote them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from huggingface_hub import HfApi

from hubkit.hub import LocalHub

TOKEN = "hubkit-test-token-123"
REPO = "localuser/resume"
HUBKIT = str(Path(sys.executable).parent / "hubkit")
_HEX = re.compile(r"\b[0-9a-f]{7,40}\b")


def _cmd(hub: LocalHub, run: Path) -> list[str]:
    return [HUBKIT, "publish", str(run), "--endpoint", hub.endpoint, "--repo", REPO, "--select", "epochs:0,2"]


def _env() -> dict[str, str]:
    return {**os.environ, "HF_TOKEN": TOKEN}


def _state(hub: LocalHub) -> dict[str, dict[str, str]]:
    """ref -> {path: sha256 or blob id}, with commit ids masked out of the files that quote them."""
    api = HfApi(endpoint=hub.endpoint, token=TOKEN)
    refs = api.list_repo_refs(REPO)
    state: dict[str, dict[str, str]] = {}
    for ref in [*refs.branches, *refs.tags]:
        files: dict[str, str] = {}
        for entry in api.list_repo_tree(REPO, revision=ref.target_commit, recursive=True):
            if entry.path in ("README.md", "verification.json"):
                text = Path(api.hf_hub_download(REPO, entry.path, revision=ref.target_commit)).read_text()
                files[entry.path] = _HEX.sub("<commit>", text)
            else:
                files[entry.path] = entry.lfs.sha256 if entry.lfs else entry.blob_id  # type: ignore[union-attr]
        state[ref.name] = files
    return state


def test_killed_publish_resumes_to_the_same_state(timm_run_dir: Path, tmp_path: Path) -> None:
    with LocalHub(tmp_path / "a", token=TOKEN) as hub_a:
        done = subprocess.run(
            [*_cmd(hub_a, timm_run_dir), "--no-verify"], env=_env(), capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        expected = _state(hub_a)
    assert set(expected) == {"main", "epoch-000", "epoch-002", "epoch-004"}

    slow_uploads = (
        "rate=1,kinds=slow,delay=1.5,paths=/_lfs/*+/_xet/*/v1/xorbs/*,methods=PUT+POST"  # LFS or Xet
    )
    with LocalHub(tmp_path / "b", token=TOKEN, faults=slow_uploads) as hub_b:
        api = HfApi(endpoint=hub_b.endpoint, token=TOKEN)
        proc = subprocess.Popen(
            [*_cmd(hub_b, timm_run_dir), "--no-verify"], env=_env(), stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 240
        try:
            while time.monotonic() < deadline:  # kill once one revision is done and the next one is uploading
                if api.repo_exists(REPO):
                    names = {b.name for b in api.list_repo_refs(REPO).branches}
                    if "epoch-000" in names and any(n.startswith("hubkit-staging-") for n in names):
                        break
                time.sleep(0.05)
            else:
                raise AssertionError("the publish never reached its second upload")
            time.sleep(0.3)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        halfway = {b.name for b in api.list_repo_refs(REPO).branches}
        assert (
            "main" in halfway and "epoch-004" not in halfway
        )  # nothing half-made is visible under a final name
        done = subprocess.run(
            [*_cmd(hub_b, timm_run_dir), "--no-verify"], env=_env(), capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert _state(hub_b) == expected
