"""The layout of a published revision: its generic file names and the records hubkit commits with it.

A revision holds the framework's own files (weights and config: named by the framework objects in
:mod:`hubkit.frameworks`) and the files named here: the card, ``hubkit.json`` (what was published, from
which checkpoint, :class:`HubkitRecord`) and ``verification.json`` (what ``hubkit verify`` found,
:class:`VerificationRecord`). Both records are versioned (``"format"`` in the file, ``schema_version``
here); :meth:`~HubkitRecord.from_json` reads every version hubkit wrote and refuses newer ones with a
:class:`~hubkit.errors.RecordError`. Data and (de)serialisation only: no I/O, no framework knowledge.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hubkit.errors import RecordError
from hubkit.secrets import redact

# --- file names ------------------------------------------------------------------------------------
README = "README.md"  # the model card (huggingface_hub's REPOCARD_NAME)
HUBKIT_JSON = "hubkit.json"  # HubkitRecord
VERIFICATION_JSON = "verification.json"  # VerificationRecord
TRAINING_CURVES = "training_curves.png"  # main only: the run's metrics per epoch
TRAINING_DYNAMICS = "training_dynamics.png"  # main only: per layer-group change between revisions
GITATTRIBUTES = ".gitattributes"  # the Hub's (LFS rules), never hubkit's
# Files hubkit writes into a revision besides the framework's weights and config.
HUBKIT_FILES = frozenset({README, HUBKIT_JSON, VERIFICATION_JSON, TRAINING_CURVES, TRAINING_DYNAMICS})

# The newest record format this hubkit writes and reads ("format" in both files). Version 1: hubkit 0.1.
SCHEMA_VERSION = 1
SCHEMA_VERSIONS = frozenset({1})  # every version from_json reads

T = TypeVar("T")


# --- hubkit.json -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunRecord:
    """The run a revision comes from (``hubkit.json`` ``"run"``)."""

    name: str  # "timm-digits"
    framework: str  # "timm" (a registered framework's name)
    architecture: str  # "test_resnet"
    epochs: int | None = None  # 10: planned epochs of the run
    epoch_base: int = 0  # 0 when the framework numbers its first epoch 0 (timm), 1 for OpenCLIP
    primary_metric: str = ""  # "eval_top1"


@dataclass(frozen=True)
class SourceRecord:
    """The checkpoint a revision was converted from (``"source_checkpoint"``)."""

    file: str  # "checkpoint-4.pth.tar" (file name only: local paths differ between machines)
    sha256: str  # 64 hex digits
    size: int  # bytes


@dataclass(frozen=True)
class FileRecord:
    """One converted file as written at conversion time (``"files"`` values)."""

    size: int  # 1_234_567
    sha256: str  # 64 hex digits


@dataclass(frozen=True)
class DynamicsRecord:
    """How a revision's weights moved since the previous published revision (``hubkit.dynamics``)."""

    previous: str  # "epoch-003": the revision compared with
    scheme: str  # "timm group_matcher (coarse)": whose layer groups
    unchanged_share: float | None  # 0.62: share of the weight bytes bitwise unchanged
    rel_change: Mapping[str, float | None] = field(default_factory=dict)  # {"layer1": 0.012}: ‖Δw‖/‖w‖
    frozen_groups: tuple[str, ...] = ()  # ("conv1+bn1",): groups whose parameters did not change at all
    buffers_moved: tuple[str, ...] = ()  # ("layer1",): groups whose buffers (BatchNorm statistics) moved

    def to_dict(self) -> dict[str, Any]:
        return {
            "previous": self.previous,
            "scheme": self.scheme,
            "unchanged_share": self.unchanged_share,
            "rel_change": dict(self.rel_change),
            "frozen_groups": list(self.frozen_groups),
            "buffers_moved": list(self.buffers_moved),
        }


def _dynamics(get: _Reader) -> DynamicsRecord:
    changes = get.value("rel_change", dict) or {}
    return DynamicsRecord(
        previous=get.value("previous", str, required=True),
        scheme=get.value("scheme", str) or "",
        unchanged_share=get.value("unchanged_share", float),
        rel_change={str(k): (float(v) if isinstance(v, int | float) else None) for k, v in changes.items()},
        frozen_groups=tuple(str(g) for g in get.value("frozen_groups", list) or ()),
        buffers_moved=tuple(str(g) for g in get.value("buffers_moved", list) or ()),
    )


@dataclass(frozen=True)
class HubkitRecord:
    """``hubkit.json``: what a revision holds and where it comes from.

    Only facts that are the same on every re-run of the same command (no time stamps, no absolute
    paths), written with sorted keys: the committed bytes compare equal between runs.
    """

    revision: str  # "epoch-004"
    run: RunRecord
    epoch: int | None  # 4 (the framework's own numbering); None only in hand-made files
    weights: str | None  # "ema" | "raw"
    hubkit_version: str  # "0.1.0"
    source: SourceRecord | None = None
    files: Mapping[str, FileRecord] = field(default_factory=dict)  # {"model.safetensors": FileRecord(..)}
    metrics: Mapping[str, float] = field(default_factory=dict)  # {"eval_top1": 91.2, "eval_loss": 0.3}
    lr: float | None = None  # 0.00041
    step: int | None = None  # 1250, when the run records it
    num_parameters: int | None = None  # 11_689_512
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)  # the run's arguments, plain JSON
    framework_versions: Mapping[str, str] = field(default_factory=dict)  # {"timm": "1.0.31", ...}
    dynamics: DynamicsRecord | None = None  # since the previous published revision; absent for the first
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (keys as in the file)."""
        return {
            "format": self.schema_version,
            "hubkit_version": self.hubkit_version,
            "revision": self.revision,
            "run": {
                "name": self.run.name,
                "framework": self.run.framework,
                "architecture": self.run.architecture,
                "epochs": self.run.epochs,
                "epoch_base": self.run.epoch_base,
                "primary_metric": self.run.primary_metric,
            },
            "epoch": self.epoch,
            "step": self.step,
            "metrics": dict(self.metrics),
            "lr": self.lr,
            "weights": self.weights,
            "num_parameters": self.num_parameters,
            "source_checkpoint": None
            if self.source is None
            else {"file": self.source.file, "sha256": self.source.sha256, "size": self.source.size},
            "files": {p: {"size": f.size, "sha256": f.sha256} for p, f in sorted(self.files.items())},
            "hyperparameters": dict(self.hyperparameters),
            "framework_versions": dict(self.framework_versions),
        } | ({"dynamics": self.dynamics.to_dict()} if self.dynamics is not None else {})

    def to_json(self) -> bytes:
        """The deterministic ``hubkit.json`` bytes: sorted keys, two-space indent, tokens redacted.

        Example:
            >>> HubkitRecord.from_json(record.to_json()) == record  # doctest: +SKIP
            True
        """
        return _record_bytes(self.to_dict(), allow_nan=False)

    @classmethod
    def from_json(cls, data: bytes | str) -> HubkitRecord:
        """Read a ``hubkit.json`` of any format this hubkit knows.

        Raises:
            RecordError: not JSON, a field of the wrong type, or a format newer than this hubkit.

        Example:
            >>> HubkitRecord.from_json(snapshot.joinpath("hubkit.json").read_bytes()).run.framework
            'timm'
        """
        raw = _load(data, HUBKIT_JSON)
        get = _Reader(raw, HUBKIT_JSON)
        run = _Reader(get.value("run", dict, required=True), f"{HUBKIT_JSON} run")
        source = get.value("source_checkpoint", dict)
        dynamics = get.value("dynamics", dict)
        files = get.value("files", dict) or {}
        return cls(
            schema_version=get.version(),
            revision=get.value("revision", str, required=True),
            run=RunRecord(
                name=run.value("name", str, required=True),
                framework=run.value("framework", str, required=True),
                architecture=run.value("architecture", str, required=True),
                epochs=run.value("epochs", int),
                epoch_base=run.value("epoch_base", int) or 0,
                primary_metric=run.value("primary_metric", str) or "",
            ),
            epoch=get.value("epoch", int),
            weights=get.value("weights", str),
            hubkit_version=get.value("hubkit_version", str) or "",
            source=None if source is None else _source(_Reader(source, f"{HUBKIT_JSON} source_checkpoint")),
            files={
                str(p): _file(_Reader(_expect(f, dict, p), f"{HUBKIT_JSON} files")) for p, f in files.items()
            },
            metrics=_numbers(get.value("metrics", dict) or {}, f"{HUBKIT_JSON} metrics"),
            lr=get.value("lr", float),
            step=get.value("step", int),
            num_parameters=get.value("num_parameters", int),
            hyperparameters=get.value("hyperparameters", dict) or {},
            framework_versions={
                str(k): str(v) for k, v in (get.value("framework_versions", dict) or {}).items()
            },
            dynamics=None if dynamics is None else _dynamics(_Reader(dynamics, f"{HUBKIT_JSON} dynamics")),
        )


def _source(get: _Reader) -> SourceRecord:
    return SourceRecord(
        file=get.value("file", str, required=True),
        sha256=get.value("sha256", str, required=True),
        size=get.value("size", int, required=True),
    )


def _file(get: _Reader) -> FileRecord:
    return FileRecord(
        size=get.value("size", int, required=True), sha256=get.value("sha256", str, required=True)
    )


# --- verification.json ---------------------------------------------------------------------------
@dataclass(frozen=True)
class MetricCheck:
    """A re-measured metric next to the value the run recorded for the same epoch.

    ``delta``, ``checked`` and ``passed`` are derived: written into ``verification.json`` for its readers,
    computed again from the values when it is read.
    """

    name: str  # "top1" (hubkit's name for what was measured)
    measured: float  # 97.22 (percent points for accuracies and recalls); NaN when it could not be measured
    recorded: float | None  # 97.5 (None when the run recorded nothing to compare with)
    tolerance: float | None  # 0.5 (same unit as the values); None: reported, not checked
    source: str = ""  # "summary.csv eval_top1, epoch 3"
    unit: str = "points"  # "points" (percent) | "loss"

    @property
    def delta(self) -> float | None:
        """measured − recorded, or None when nothing was recorded."""
        return None if self.recorded is None else self.measured - self.recorded

    @property
    def checked(self) -> bool:
        return self.recorded is not None and self.tolerance is not None

    @property
    def passed(self) -> bool:
        """True unless the check applies and the difference exceeds the tolerance (or is not a number)."""
        if not self.checked:
            return True
        delta = self.delta
        return delta is not None and math.isfinite(delta) and abs(delta) <= self.tolerance + 1e-9  # type: ignore[operator]

    @property
    def ok(self) -> bool:
        """``passed``, under the name card templates use (``c.ok``)."""
        return self.passed

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "measured": _num(self.measured),
            "recorded": _num(self.recorded),
            "delta": _num(self.delta),
            "tolerance": self.tolerance,
            "unit": self.unit,
            "checked": self.checked,
            "passed": self.passed,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> MetricCheck:
        get = _Reader(raw, f"{VERIFICATION_JSON} checks")
        measured = get.value("measured", float)
        return cls(
            name=get.value("name", str, required=True),
            measured=math.nan if measured is None else measured,
            recorded=get.value("recorded", float),
            tolerance=get.value("tolerance", float),
            source=get.value("source", str) or "",
            unit=get.value("unit", str) or "points",
        )


@dataclass(frozen=True)
class IntegrityReport:
    """Published tensors and logits compared with the source checkpoint."""

    weights: str  # "ema" | "raw": which weights of the source checkpoint the revision says it holds
    source: str  # "checkpoint-3.pth.tar" (file name only)
    tensors_compared: int  # 62
    mismatches: tuple[str, ...] = ()  # ("fc.weight: values differ (max |diff| 0.0132)",)
    loaded_mismatches: tuple[str, ...] = ()  # model state after loading vs the file, same format
    logits_max_abs_diff: float | None = None  # 0.0 (published model vs source model on one fixed batch)
    logits_tolerance: float = 1e-4  # largest |diff| accepted (kernels may differ between two model objects)
    notes: tuple[str, ...] = ()  # ("weights of epoch 3 were recorded with EMA",)

    @property
    def passed(self) -> bool:
        logits_ok = self.logits_max_abs_diff is None or self.logits_max_abs_diff <= self.logits_tolerance
        return not self.mismatches and not self.loaded_mismatches and logits_ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "weights": self.weights,
            "source": self.source,
            "tensors_compared": self.tensors_compared,
            "mismatches": list(self.mismatches),
            "loaded_mismatches": list(self.loaded_mismatches),
            "logits_max_abs_diff": _num(self.logits_max_abs_diff),
            "logits_tolerance": self.logits_tolerance,
            "notes": list(self.notes),
            "passed": self.passed,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> IntegrityReport:
        get = _Reader(raw, f"{VERIFICATION_JSON} integrity")
        tolerance = get.value("logits_tolerance", float)
        return cls(
            weights=get.value("weights", str, required=True),
            source=get.value("source", str, required=True),
            tensors_compared=get.value("tensors_compared", int, required=True),
            mismatches=get.strings("mismatches"),
            loaded_mismatches=get.strings("loaded_mismatches"),
            logits_max_abs_diff=get.value("logits_max_abs_diff", float),
            logits_tolerance=1e-4 if tolerance is None else tolerance,
            notes=get.strings("notes"),
        )


@dataclass(frozen=True)
class VerificationRecord:
    """``verification.json``: what ``hubkit verify`` found for one commit.

    Everything a re-run on the same machine and library versions reproduces, apart from the wall-clock
    ``timings``: those sit under their own key, which the publish flow leaves out (``timings=None``) so
    that the committed bytes compare equal between runs.
    """

    repo_id: str  # "org/resnet-digits"
    revision: str  # "epoch-3"
    commit: str | None  # "3f2a9c1e…" (None when the download itself failed)
    library: str | None  # "timm" | "open_clip" | None (not loaded)
    passed: bool  # True when no failure is listed
    failures: tuple[str, ...] = ()  # ("top1 97.2 differs from summary.csv eval_top1 99.0 by 1.8 > 0.5",)
    epoch: int | None = None  # 3 (from hubkit.json)
    weights: str | None = None  # "ema" | "raw" (from hubkit.json)
    device: Mapping[str, Any] | None = None  # {"type": "cpu", "name": "x86_64 CPU", ...} (verify.device)
    versions: Mapping[str, str] = field(default_factory=dict)  # {"torch": "2.14.1", "timm": "1.0.31", ...}
    eval_data: str | None = None  # "val (run args data_dir)" — names only, never absolute paths
    num_samples: int | None = None  # 360
    metrics: Mapping[str, float | None] = field(default_factory=dict)  # {"top1": 97.2}; None: not a number
    checks: tuple[MetricCheck, ...] = ()
    integrity: IntegrityReport | None = None
    notes: tuple[str, ...] = ()  # ("--limit 64: metrics reported but not checked",)
    timings: Mapping[str, float] | None = None  # {"download_s": .., "eval_s": ..}; None: left out
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (keys as in the file; ``"timings"`` only when there are timings)."""
        record: dict[str, Any] = {
            "format": self.schema_version,
            "repo_id": self.repo_id,
            "revision": self.revision,
            "commit": self.commit,
            "library": self.library,
            "passed": self.passed,
            "failures": list(self.failures),
            "epoch": self.epoch,
            "weights": self.weights,
            "device": None if self.device is None else dict(self.device),
            "versions": dict(self.versions),
            "eval": {"data": self.eval_data, "num_samples": self.num_samples},
            "metrics": {k: _num(v) for k, v in sorted(self.metrics.items())},
            "checks": [c.to_dict() for c in self.checks],
            "integrity": self.integrity.to_dict() if self.integrity else None,
            "notes": list(self.notes),
        }
        if self.timings is not None:
            record["timings"] = {k: round(v, 4) for k, v in sorted(self.timings.items())}
        return record

    def to_json(self) -> bytes:
        """``verification.json`` bytes: sorted keys, two-space indent, tokens redacted.

        Example:
            >>> json.loads(record.to_json())["passed"]  # doctest: +SKIP
            True
        """
        return _record_bytes(self.to_dict())

    @classmethod
    def from_json(cls, data: bytes | str) -> VerificationRecord:
        """Read a ``verification.json`` of any format this hubkit knows.

        Raises:
            RecordError: not JSON, a field of the wrong type, or a format newer than this hubkit.

        Example:
            >>> VerificationRecord.from_json(b'{"format": 1, "repo_id": "o/n", "revision": "main", '
            ...     b'"commit": null, "library": null, "passed": true}').passed
            True
        """
        raw = _load(data, VERIFICATION_JSON)
        get = _Reader(raw, VERIFICATION_JSON)
        evaluation = _Reader(get.value("eval", dict) or {}, f"{VERIFICATION_JSON} eval")
        integrity = get.value("integrity", dict)
        timings = get.value("timings", dict)
        return cls(
            schema_version=get.version(),
            repo_id=get.value("repo_id", str) or "",
            revision=get.value("revision", str) or "",
            commit=get.value("commit", str),
            library=get.value("library", str),
            passed=get.value("passed", bool, required=True),
            failures=get.strings("failures"),
            epoch=get.value("epoch", int),
            weights=get.value("weights", str),
            device=get.value("device", dict),
            versions={str(k): str(v) for k, v in (get.value("versions", dict) or {}).items()},
            eval_data=evaluation.value("data", str),
            num_samples=evaluation.value("num_samples", int),
            metrics=_numbers(get.value("metrics", dict) or {}, f"{VERIFICATION_JSON} metrics", nullable=True),
            checks=tuple(
                MetricCheck.from_dict(_expect(c, dict, "checks")) for c in get.value("checks", list) or []
            ),
            integrity=None if integrity is None else IntegrityReport.from_dict(integrity),
            notes=get.strings("notes"),
            timings=None if timings is None else _numbers(timings, f"{VERIFICATION_JSON} timings"),
        )


# --- the release a pull request carries ------------------------------------------------------------
RELEASE_MARKER = "<!-- hubkit-release -->"  # opens the pull-request comment that carries a ReleaseManifest


@dataclass(frozen=True)
class ManifestRevision:
    """One revision a release pull request brings: the branch ``hubkit pr merge`` points at its commit."""

    name: str  # "epoch-004"
    epoch: int  # 4
    commit: str  # the pull request's commit holding the revision (verified, when verification ran)
    replaces: str | None = None  # where the branch pointed when the pull request was made; None: new


@dataclass(frozen=True)
class ReleaseManifest:
    """What ``hubkit publish --create-pr`` put in a pull request, read back by ``hubkit pr merge``.

    Written into a comment of the pull request (after :data:`RELEASE_MARKER`, as a JSON code block), not
    into the repo: the revisions become branches and the tag is made when the pull request is merged.
    """

    head: str  # the pull request's head when the manifest was written (its last commit: main's content)
    main_epoch: int | None  # 9: the epoch main holds after the merge
    revisions: tuple[ManifestRevision, ...]  # ascending epoch
    tag: str | None = None  # "v1": made at the merge commit
    tag_replaces: str | None = None  # where the tag pointed when the pull request was made
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": self.schema_version,
                "head": self.head,
                "main_epoch": self.main_epoch,
                "revisions": [
                    {"name": r.name, "epoch": r.epoch, "commit": r.commit, "replaces": r.replaces}
                    for r in self.revisions
                ],
                "tag": self.tag,
                "tag_replaces": self.tag_replaces,
            },
            indent=2,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, data: str) -> ReleaseManifest:
        """Read a manifest; a malformed one is a :class:`~hubkit.errors.RecordError` naming the field."""
        where = "the release manifest"
        get = _Reader(_load(data, where), where)
        revisions = []
        for raw in get.value("revisions", list, required=True):
            rev = _Reader(_expect(raw, dict, f"{where} revisions"), f"{where} revision")
            revisions.append(
                ManifestRevision(
                    name=rev.value("name", str, required=True),
                    epoch=rev.value("epoch", int, required=True),
                    commit=rev.value("commit", str, required=True),
                    replaces=rev.value("replaces", str),
                )
            )
        return cls(
            schema_version=get.version(),
            head=get.value("head", str, required=True),
            main_epoch=get.value("main_epoch", int),
            revisions=tuple(revisions),
            tag=get.value("tag", str),
            tag_replaces=get.value("tag_replaces", str),
        )


# --- writing and reading ---------------------------------------------------------------------------
def _record_bytes(raw: Mapping[str, Any], *, allow_nan: bool = True) -> bytes:
    """A record file's bytes: sorted keys, two-space indent, UTF-8, tokens redacted, a final newline."""
    text = json.dumps(raw, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=allow_nan)
    return (redact(text) + "\n").encode("utf-8")


def _load(data: bytes | str, name: str) -> dict[str, Any]:
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordError(f"{name} is not valid JSON: {exc}", hint=_REWRITE_HINT) from None
    return _expect(raw, dict, name)


_REWRITE_HINT = "re-publish the revision with hubkit to write it again"


class _Reader:
    """Typed access to one JSON object; every refusal names the file and the field."""

    def __init__(self, raw: Mapping[str, Any], where: str) -> None:
        self.raw = raw
        self.where = where

    def value(self, key: str, kind: type[T], *, required: bool = False) -> Any:
        value = self.raw.get(key)
        if value is None:
            if required:
                raise RecordError(f"{self.where} has no {key!r}", hint=_REWRITE_HINT)
            return None
        return _expect(value, kind, f"{self.where} {key!r}")

    def strings(self, key: str) -> tuple[str, ...]:
        return tuple(str(item) for item in self.value(key, list) or [])

    def version(self) -> int:
        version = self.raw.get("format", 1)  # every hubkit so far wrote "format"; assume 1 without it
        if version not in SCHEMA_VERSIONS or isinstance(version, bool):
            raise RecordError(
                f"{self.where} has format {version!r}; this hubkit reads format(s) "
                f"{', '.join(map(str, sorted(SCHEMA_VERSIONS)))}",
                hint="upgrade hubkit (pip install -U hubkit) to read records written by a newer version",
            )
        return int(version)


def _expect(value: Any, kind: type[T], where: str) -> T:
    """``value`` when it is a ``kind`` (ints count as floats, bools never as numbers), else RecordError."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # type: ignore[return-value]
    if isinstance(value, kind) and not (kind is not bool and isinstance(value, bool)):
        return value
    raise RecordError(
        f"{where} is {type(value).__name__} {str(value)[:60]!r}, expected {_KIND_NAMES.get(kind, kind.__name__)}",
        hint=_REWRITE_HINT,
    )


_KIND_NAMES: dict[type, str] = {dict: "an object", list: "a list", str: "a string", int: "an integer"}


def _numbers(raw: Mapping[str, Any], where: str, *, nullable: bool = False) -> dict[str, Any]:
    """``{name: float}`` (``None`` kept where ``nullable``: NaN was written as null)."""
    return {
        str(k): None if v is None and nullable else _expect(v, float, f"{where} {str(k)!r}")
        for k, v in raw.items()
    }


def _num(value: float | None) -> float | None:
    """JSON-safe number: NaN/inf become None (JSON has no NaN), others are rounded to 6 digits."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), 6)
