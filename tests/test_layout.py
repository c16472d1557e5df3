"""hubkit.layout: the hubkit.json / verification.json records read what hubkit wrote and write the same bytes.

``tests/golden/records/*-v1.json`` were written by hubkit before the records were typed (the dict-based
writers of ``publish/metadata.py`` and ``verify/result.py``), from the facts rebuilt below. They are the
format-1 files of every repo published so far: never regenerate them; a new format gets new files.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from hubkit.errors import RecordError
from hubkit.layout import (
    HUBKIT_JSON,
    VERIFICATION_JSON,
    HubkitRecord,
    IntegrityReport,
    MetricCheck,
    VerificationRecord,
)
from hubkit.publish.metadata import RevisionFacts, record_of
from hubkit.publish.verification import passed
from hubkit.verify.device import DeviceInfo
from hubkit.verify.result import RevisionResult

RECORDS = Path(__file__).parent / "golden" / "records"


def _golden(name: str) -> bytes:
    return (RECORDS / name).read_bytes()


def _facts() -> RevisionFacts:
    return RevisionFacts(
        revision="epoch-004",
        run_name="timm-digits",
        framework="timm",
        architecture="test_resnet",
        epoch=4,
        epochs=10,
        epoch_base=0,
        metrics={"eval_top1": 91.25, "eval_loss": 0.3125, "eval_top5": 100.0},
        lr=0.00041,
        step=1250,
        weights="ema",
        source_file="checkpoint-4.pth.tar",
        source_sha256="ab" * 32,
        source_size=1234567,
        files={"model.safetensors": (1000, "cd" * 32), "config.json": (200, "ef" * 32)},
        hyperparameters={
            "lr": 0.1,
            "model": "test_resnet",
            "data_dir": "data",
            "nan": float("nan"),
            "amp": True,
            "crop": [224, 224],
        },
        primary_metric="eval_top1",
        num_parameters=11689512,
    )


def _result() -> RevisionResult:
    source = "summary.csv eval_{}, epoch 4"
    return RevisionResult(
        "local/timm-digits",
        "epoch-004",
        "3f2a9c1e" * 5,
        "timm",
        device=DeviceInfo("cpu", "x86_64 CPU", None, "float32"),
        versions={"hubkit": "0.1.0", "torch": "2.5.1", "timm": "1.0.11"},
        epoch=4,
        weights="ema",
        eval_data="val (image-folder, from the run's args)",
        num_samples=360,
        metrics={"top1": 91.11111111, "top5": 100.0, "loss": 0.3012345678},
        checks=(
            MetricCheck("top1", 91.11111111, 91.25, 0.5, source.format("top1")),
            MetricCheck("top5", 100.0, 100.0, 0.5, source.format("top5")),
            MetricCheck("loss", 0.3012345678, 0.3125, None, source.format("loss"), unit="loss"),
        ),
        integrity=IntegrityReport(
            "ema",
            "checkpoint-4.pth.tar",
            62,
            logits_max_abs_diff=0.0,
            notes=("timm train.py records the EMA model's metrics when --model-ema is on",),
        ),
        notes=("reloaded with timm.create_model",),
        timings={"download_s": 0.41234, "load_s": 1.2, "eval_s": 2.5},
    )


def test_hubkit_json_of_format_1_is_read_field_by_field() -> None:
    record = HubkitRecord.from_json(_golden("hubkit-v1.json"))
    assert record.schema_version == 1 and record.revision == "epoch-004"
    assert (record.run.name, record.run.framework, record.run.epoch_base) == ("timm-digits", "timm", 0)
    assert record.epoch == 4 and record.weights == "ema" and record.step == 1250
    assert record.source is not None and record.source.size == 1234567
    assert record.files["model.safetensors"].sha256 == "cd" * 32
    assert record.metrics == {"eval_loss": 0.3125, "eval_top1": 91.25, "eval_top5": 100.0}
    assert record.hyperparameters["nan"] is None and record.hyperparameters["crop"] == [224, 224]


def test_hubkit_json_writer_keeps_the_bytes_of_format_1() -> None:
    old = _golden("hubkit-v1.json")
    assert HubkitRecord.from_json(old).to_json() == old
    written = HubkitRecord.from_json(old)  # library versions as installed when the golden file was made
    new = dataclasses.replace(
        record_of(_facts()),
        framework_versions=written.framework_versions,
        hubkit_version=written.hubkit_version,
    )
    assert new.to_json() == old and HubkitRecord.from_json(new.to_json()) == new


@pytest.mark.parametrize("form", ["publish", "verify", "failed"])
def test_verification_json_of_format_1_round_trips(form: str) -> None:
    old = _golden(f"verification-v1-{form}.json")
    record = VerificationRecord.from_json(old)
    assert record.to_json() == old
    assert (record.timings is None) == (form == "publish")  # the publish flow commits no timings


def test_verification_json_is_read_field_by_field() -> None:
    record = VerificationRecord.from_json(_golden("verification-v1-verify.json"))
    assert record.passed and record.library == "timm" and record.num_samples == 360
    assert [c.name for c in record.checks] == ["top1", "top5", "loss"]
    assert record.checks[0].recorded == 91.25 and record.checks[0].passed and not record.checks[2].checked
    assert (
        record.integrity is not None and record.integrity.tensors_compared == 62 and record.integrity.passed
    )
    assert record.device is not None and record.device["type"] == "cpu"
    failed = VerificationRecord.from_json(_golden("verification-v1-failed.json"))
    assert (
        not failed.passed
        and failed.failures == ("download failed: 404",)
        and failed.metrics == {"top1": None}
    )


def test_verification_writer_keeps_the_bytes_of_format_1() -> None:
    result = _result()
    assert result.to_json().encode() == _golden("verification-v1-verify.json")
    committed = dataclasses.replace(result.to_record(timings=False), revision="epoch-004")
    assert committed.to_json() == _golden("verification-v1-publish.json")


def test_a_check_read_back_keeps_its_verdict() -> None:
    check = MetricCheck("top1", 97.0, 97.6, 0.5, "summary.csv eval_top1")
    again = MetricCheck.from_dict(json.loads(json.dumps(check.to_dict())))
    assert again == check and not again.passed and again.ok is again.passed
    unmeasured = MetricCheck.from_dict({"name": "top1", "measured": None, "recorded": 90.0, "tolerance": 0.5})
    assert math.isnan(unmeasured.measured) and not unmeasured.passed


@pytest.mark.parametrize("cls", [HubkitRecord, VerificationRecord])
def test_a_newer_format_is_refused_with_what_to_do(cls: type[HubkitRecord | VerificationRecord]) -> None:
    name = HUBKIT_JSON if cls is HubkitRecord else VERIFICATION_JSON
    raw = json.loads(_golden("hubkit-v1.json" if cls is HubkitRecord else "verification-v1-verify.json"))
    raw["format"] = 2
    with pytest.raises(RecordError, match=rf"{name} has format 2; this hubkit reads format\(s\) 1") as info:
        cls.from_json(json.dumps(raw))
    assert info.value.hint is not None and "upgrade hubkit" in info.value.hint


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", "hubkit.json is not valid JSON"),
        (b"[]", "hubkit.json is list"),
        (
            b'{"revision": "main", "run": {"name": "r", "framework": "timm"}}',
            "hubkit.json run has no 'architecture'",
        ),
        (
            b'{"revision": "main", "run": {"name": "r", "framework": "timm", "architecture": "a"}, "epoch": "4"}',
            "hubkit.json 'epoch' is str '4', expected an integer",
        ),
        (
            b'{"revision": "main", "run": {"name": "r", "framework": "timm", "architecture": "a"}, "epoch": true}',
            "'epoch' is bool",
        ),
    ],
)
def test_a_malformed_hubkit_json_names_the_field(data: bytes, message: str) -> None:
    with pytest.raises(RecordError, match=message.replace("(", r"\(")):
        HubkitRecord.from_json(data)


def test_publish_reverifies_what_it_cannot_read() -> None:
    assert passed(_golden("verification-v1-publish.json")) is True
    assert passed(_golden("verification-v1-failed.json")) is False
    assert passed(b'{"format": 2, "passed": true}') is False
    assert passed(None) is None
