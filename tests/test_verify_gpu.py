"""The CUDA path of hubkit verify (skipped without a CUDA device; see benchmarks/bench_verify.py for speed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import HfApi
from test_verify_timm import publish_by_hand

from hubkit.hub import LocalHub
from hubkit.runs import read_run
from hubkit.verify.loader import load_revision
from hubkit.verify.verifier import VerifyOptions, verify_revision

pytestmark = pytest.mark.gpu


def test_load_revision_puts_the_model_on_cuda(timm_run_dir: Path, hub: LocalHub, tmp_path: Path) -> None:
    api = HfApi(endpoint=hub.endpoint, token=hub.token)
    run = read_run(timm_run_dir)
    publish_by_hand(api, "localuser/gpu", run, 4, "epoch-004", tmp_path)
    loaded = load_revision(
        "localuser/gpu", "epoch-004", endpoint=hub.endpoint, cache_dir=tmp_path / "c", device="cuda"
    )
    assert all(p.device.type == "cuda" for p in loaded.model.parameters())


def test_verify_on_cuda_matches_summary_csv(timm_run_dir: Path, hub: LocalHub, tmp_path: Path) -> None:
    api = HfApi(endpoint=hub.endpoint, token=hub.token)
    run = read_run(timm_run_dir)
    publish_by_hand(api, "localuser/gpu-verify", run, 4, "epoch-004", tmp_path)
    options = VerifyOptions(device="cuda", workers=2)
    result = verify_revision(
        "localuser/gpu-verify", "epoch-004", endpoint=hub.endpoint, run=run, options=options
    )
    assert result.passed, result.failures
    assert result.device is not None and result.device.type == "cuda" and result.device.memory_gib
    assert result.integrity is not None and result.integrity.passed
