"""Publishing the checkpoints of an OpenCLIP run with a locked text tower sends little more than what changed.

With ``--lock-text`` most of the tiny CLIP's bytes (the 49,408-token embedding) stay identical between
epochs. hubkit uploads through Xet, so the chunks of those tensors travel once: the xorb bytes the hub
receives stay within 1.3 x (one checkpoint + the bytes of the tensors that changed in the others).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_run import hubkit
from huggingface_hub import HfApi

from hubkit.hub import LocalHub

TOKEN = "xet-dedup-token"
REPO = "localuser/locked-text"


def _publish(hub: LocalHub, run: Path) -> dict[str, Any]:
    argv = ["publish", str(run), "--endpoint", hub.endpoint, "--token", TOKEN, "--repo", REPO]
    argv += ["--select", "all", "--json", "--device", "cpu", "--no-verify"]
    code, out, err = hubkit(*argv)
    assert not code, err
    return dict(json.loads(out))


@pytest.mark.slow
def test_locked_tower_checkpoints_send_only_what_changed(
    openclip_run_factory: Callable[..., Path], tmp_path: Path
) -> None:
    from safetensors.torch import load_file

    run = openclip_run_factory(lock_text=True)
    with LocalHub(tmp_path / "hub", token=TOKEN) as hub:
        report = _publish(hub, run)
        received = hub.xet_stats.xorb_bytes_received
        api = HfApi(endpoint=hub.endpoint, token=TOKEN)
        revisions = [r for r in report["revisions"] if r["status"] == "published"]
        assert len(revisions) >= 3
        tensors = []
        for rev in revisions:
            (weights,) = [f["path"] for f in rev["files"] if f["path"].endswith(".safetensors")]
            path = api.hf_hub_download(REPO, weights, revision=rev["revision"], cache_dir=tmp_path / "c")
            tensors.append(load_file(path))
    first = sum(t.numel() * t.element_size() for t in tensors[0].values())
    changed = sum(
        t.numel() * t.element_size()
        for before, after in itertools.pairwise(tensors)
        for name, t in after.items()
        if name not in before or not before[name].equal(t)
    )
    total = sum(sum(t.numel() * t.element_size() for t in state.values()) for state in tensors)
    assert changed < 0.3 * (total - first)  # the run really froze most bytes
    assert received <= 1.3 * (first + changed), (received, first, changed, total)
    assert report["deduplicated_bytes"] > 0
    assert sum(r["bytes_deduplicated"] for r in revisions) == report["deduplicated_bytes"]
