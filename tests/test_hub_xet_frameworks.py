"""timm's own ``push_to_hf_hub`` goes through the local hub's Xet CAS and downloads back.

open_clip's ``push_to_hf_hub`` is not run: with OpenCLIP's default tokenizer it swaps in
``HFTokenizer('openai/clip-vit-large-patch14')``, which needs ``transformers`` and huggingface.co.
Its upload itself is the same ``upload_folder`` call as timm's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hubkit.hub import LocalHub

TOKEN = "xet-push-token"
# huggingface_hub reads HF_ENDPOINT at import time, so the push runs in its own process.
PUSH = textwrap.dedent(
    """
    import json, sys
    import torch
    torch.manual_seed(0)
    repo = sys.argv[1]
    import timm
    from timm.models import push_to_hf_hub
    model = timm.create_model("test_vit", pretrained=False, num_classes=10)
    push_to_hf_hub(model, repo, safe_serialization=True)
    state = {k: v.sum().item() for k, v in model.state_dict().items()}
    print(json.dumps({"sum": sum(state.values())}))
    """
)


@pytest.mark.slow
def test_timm_push_to_hf_hub_goes_through_xet(tmp_path: Path) -> None:
    from huggingface_hub import HfApi, hf_hub_download
    from safetensors.torch import load_file

    with LocalHub(tmp_path / "hub", token=TOKEN) as hub:
        env = {
            **os.environ,
            "HF_ENDPOINT": hub.endpoint,
            "HF_TOKEN": TOKEN,
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        }
        repo, weights = "localuser/timm-push", "model.safetensors"
        done = subprocess.run(
            [sys.executable, "-c", PUSH, repo],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        expected = json.loads(done.stdout.strip().splitlines()[-1])["sum"]
        assert hub.xet_stats.shards_registered >= 1  # the weights went through the CAS
        api = HfApi(endpoint=hub.endpoint, token=TOKEN)
        (entry,) = [e for e in api.get_paths_info(repo, [weights])]
        assert getattr(entry, "xet_hash", None)
        path = hf_hub_download(repo, weights, endpoint=hub.endpoint, cache_dir=tmp_path / "c")
        got = sum(v.sum().item() for v in load_file(path).values())
        assert got == pytest.approx(expected, rel=1e-6)
