"""Small pieces of hubkit.verify, one rule per test (the end-to-end flows are in test_verify_timm/openclip)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch
from huggingface_hub import HfApi, constants, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError

from hubkit.errors import InputError
from hubkit.hub import LocalHub
from hubkit.secrets import register_token
from hubkit.verify.datasets import CaptionCsvDataset, eval_data_from_path, subset_indices
from hubkit.verify.device import describe_device, library_versions, resolve_device
from hubkit.verify.hubenv import hub_session
from hubkit.verify.integrity import bitwise_equal, check_files, compare_state_dicts, logits_max_abs_diff
from hubkit.verify.result import IntegrityReport, MetricCheck, RevisionResult
from hubkit.verify.sources import recorded_metrics, source_state_dict


def test_hub_session_routes_endpointless_downloads_and_restores_everything(
    hub: LocalHub, tmp_path: Path
) -> None:
    api = HfApi(endpoint=hub.endpoint, token=hub.token)
    api.create_repo("localuser/session")
    api.upload_file(path_or_fileobj=b'{"a": 1}', path_in_repo="config.json", repo_id="localuser/session")
    before = (constants.ENDPOINT, constants.HUGGINGFACE_CO_URL_TEMPLATE, constants.HF_HUB_CACHE)
    with hub_session(hub.endpoint, hub.token, tmp_path / "cache"):
        assert hub.endpoint == constants.ENDPOINT
        # exactly what timm's hf-hub loader does: no endpoint, no token, no cache_dir
        path = hf_hub_download("localuser/session", "config.json")
    assert Path(path).is_relative_to(tmp_path / "cache")
    assert json.loads(Path(path).read_text()) == {"a": 1}
    assert before == (constants.ENDPOINT, constants.HUGGINGFACE_CO_URL_TEMPLATE, constants.HF_HUB_CACHE)
    assert "HF_TOKEN" not in os.environ
    # the token really travels: a wrong one is refused by the hub
    with (
        pytest.raises(HfHubHTTPError, match="401"),
        hub_session(hub.endpoint, "wrong-token", tmp_path / "c2"),
    ):
        hf_hub_download("localuser/session", "config.json")


def test_hub_session_restores_after_an_error(tmp_path: Path) -> None:
    before = constants.ENDPOINT
    with pytest.raises(RuntimeError), hub_session("http://127.0.0.1:9", None, tmp_path):
        raise RuntimeError("boom")
    assert before == constants.ENDPOINT


def test_bitwise_equal_sees_sign_of_zero_and_nan_payloads() -> None:
    assert not bitwise_equal(torch.tensor([0.0]), torch.tensor([-0.0]))
    nan = torch.tensor([float("nan")])
    assert bitwise_equal(nan, nan.clone())
    assert not bitwise_equal(torch.ones(2), torch.ones(2, dtype=torch.float64))
    assert not bitwise_equal(torch.ones(2), torch.ones(1, 2))


def test_compare_state_dicts_names_missing_extra_and_differing_tensors() -> None:
    source = {"a": torch.ones(2), "b": torch.zeros(3), "c": torch.arange(4)}
    published = {"a": torch.ones(2), "b": torch.full((3,), 0.5), "d": torch.ones(1)}
    compared, problems = compare_state_dicts(published, source, label="source (ema)")
    assert compared == 2
    text = "\n".join(problems)
    assert "missing: c" in text and "not in the source (ema): d" in text
    assert "b: values differ from the source (ema) (max |diff| 0.5)" in text


def test_logits_diff_handles_dicts_and_shape_changes() -> None:
    a = {"image_features": torch.ones(2, 4), "logit_scale": torch.tensor(10.0)}
    assert logits_max_abs_diff(a, {k: v.clone() for k, v in a.items()}) == 0.0
    assert logits_max_abs_diff(torch.ones(2, 3), torch.ones(2, 4)) == math.inf


def test_check_files_compares_with_hubkit_json(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    record = {
        "files": {"model.safetensors": {"sha256": "0" * 64, "size": 7}, "config.json": {"sha256": "1" * 64}}
    }
    problems = check_files(tmp_path, [], record)
    assert any("model.safetensors: sha256" in p for p in problems)
    assert any("config.json is listed in hubkit.json but is not in the revision" in p for p in problems)


def test_subset_indices_spread_over_the_whole_set() -> None:
    assert subset_indices(10, None) is None and subset_indices(10, 20) is None
    assert subset_indices(100, 4) == [0, 25, 50, 75]
    with pytest.raises(InputError):
        subset_indices(10, 0)


def test_eval_data_must_exist(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        eval_data_from_path(tmp_path / "nope")
    assert eval_data_from_path(tmp_path).kind == "image-folder"


def test_caption_csv_names_missing_columns(tmp_path: Path) -> None:
    csv_path = tmp_path / "val.csv"
    csv_path.write_text("image\tcaption\nx.png\ta photo\n")
    with pytest.raises(InputError, match=r"no column\(s\) \['filepath', 'title'\]"):
        CaptionCsvDataset(eval_data_from_path(csv_path), lambda x: x, lambda t: t)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_requested_without_cuda_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no CUDA device"):
        resolve_device("cuda")
    assert resolve_device("auto").type == "cpu"


def test_device_and_versions_are_described() -> None:
    info = describe_device(torch.device("cpu"), torch.float32)
    assert info.type == "cpu" and info.dtype == "float32" and info.memory_gib is None
    versions = library_versions()
    assert versions["torch"] == torch.__version__.split("+")[0] or versions["torch"].startswith(
        torch.__version__[:4]
    )
    assert {"timm", "open_clip", "hubkit", "huggingface_hub", "safetensors"} <= set(versions)


@pytest.mark.parametrize(
    ("measured", "recorded", "tolerance", "passed"),
    [
        (97.0, 97.4, 0.5, True),
        (97.0, 97.6, 0.5, False),
        (math.nan, 97.0, 0.5, False),
        (50.0, None, 0.5, True),
    ],
)
def test_metric_check_tolerance(
    measured: float, recorded: float | None, tolerance: float, passed: bool
) -> None:
    assert MetricCheck("top1", measured, recorded, tolerance).passed is passed


def test_verification_json_keeps_timings_apart_and_redacts_tokens() -> None:
    register_token("hf_verysecrettoken123")
    result = RevisionResult(
        "org/name",
        "epoch-1",
        "a" * 40,
        "timm",
        failures=("download failed with hf_verysecrettoken123",),
        metrics={"top1": 97.123456789},
        checks=(MetricCheck("top1", 97.1, 97.0, 0.5, "summary.csv eval_top1"),),
        integrity=IntegrityReport("ema", "checkpoint-1.pth.tar", 10),
        timings={"download_s": 0.123456, "eval_s": 1.0},
    )
    data = json.loads(result.to_json())
    assert data["timings"] == {"download_s": 0.1235, "eval_s": 1.0}
    assert not any("_s" in key for key in data if key != "timings")
    assert data["passed"] is False and data["metrics"]["top1"] == 97.123457
    assert data["checks"][0]["delta"] == pytest.approx(0.1)
    assert "hf_verysecrettoken123" not in result.to_json()


def test_recorded_metrics_prefer_the_run_then_hubkit_json() -> None:
    rec = recorded_metrics({"epoch": 3, "metrics": {"eval_top1": 90.0}}, None)
    assert rec.values == {"eval_top1": 90.0} and rec.source == "hubkit.json" and rec.epoch == 3
    assert recorded_metrics(None, None).values == {}


def test_source_state_dict_picks_ema_or_raw_and_strips_module_prefix() -> None:
    ckpt = {"state_dict": {"module.w": torch.ones(1)}, "state_dict_ema": {"w": torch.zeros(1)}, "epoch": 1}
    assert torch.equal(source_state_dict(ckpt, "raw")["w"], torch.ones(1))
    assert torch.equal(source_state_dict(ckpt, "ema")["w"], torch.zeros(1))
    with pytest.raises(KeyError, match="state_dict_ema"):
        source_state_dict({"state_dict": {}}, "ema")


def test_card_section_data_from_a_result() -> None:
    from hubkit.publish.card import verification_facts

    result = RevisionResult(
        "org/name",
        "epoch-1",
        "b" * 40,
        "timm",
        metrics={"top1": 97.0, "top5": 100.0, "loss": 0.1},
        checks=(
            MetricCheck("top1", 97.0, 97.2, 0.5, "summary.csv eval_top1"),
            MetricCheck("loss", 0.1, 0.1, None),
        ),
        eval_data="val (image-folder, from run args)",
        num_samples=50,
    )
    facts = verification_facts(result.to_record(timings=False).to_json())  # as the publish flow commits it
    assert facts is not None and facts.passed and facts.commit == "b" * 7 and len(facts.checks) == 1
    assert facts.checks[0].recorded == 97.2 and facts.checks[0].passed
    assert facts.dataset == "val (image-folder, from run args), 50 images"


@pytest.mark.parametrize("arch", ["test_resnet", "test_maxvit"])  # test_maxvit: buffers no state dict holds
def test_source_model_is_the_checkpoints_network_without_a_random_init(timm_run_dir: Path, arch: str) -> None:
    import dataclasses

    import timm
    import torch

    from hubkit.runs import read_run
    from hubkit.verify.sources import build_source_model

    run = dataclasses.replace(read_run(timm_run_dir), architecture=arch)
    torch.manual_seed(0)
    reference = timm.create_model(arch, num_classes=run.num_classes).eval()
    state = {k: v.clone() for k, v in reference.state_dict().items()}
    model = build_source_model(run, torch.device("cpu"), state=state)
    tensors = [*model.parameters(), *model.buffers()]
    assert not any(t.is_meta for t in tensors)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    images = torch.randn(2, *reference.pretrained_cfg["input_size"])
    with torch.inference_mode():
        assert torch.equal(model(images), reference(images))
