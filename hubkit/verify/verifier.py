"""Verify published revisions: fresh download → reload → integrity → quick-eval → :class:`RevisionResult`.

:func:`verify_revision` never raises for a failed check: every problem found (download, loader, integrity,
metric outside tolerance) becomes a line in ``result.failures`` that names the revision and the reason.
It raises only for bad input (an unknown device, a missing ``--eval-data`` path, an unreadable run dir),
before anything is downloaded. The CLI turns failed results into :class:`VerificationError` at the end.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubkit import frameworks
from hubkit.errors import HubError, HubkitError, VerificationError
from hubkit.hub.client import with_retries
from hubkit.verify.datasets import EvalData, eval_data_from_path
from hubkit.verify.device import describe_device, library_versions, resolve_device, synchronize
from hubkit.verify.evaluate import EvalOutcome
from hubkit.verify.loader import LoadedModel, load_revision
from hubkit.verify.options import DEFAULT_BATCH_SIZE, DEFAULT_TOLERANCE, VerifyOptions
from hubkit.verify.result import IntegrityReport, MetricCheck, RevisionResult
from hubkit.verify.sources import Recorded, recorded_metrics

if TYPE_CHECKING:
    import torch

    from hubkit.runs import TrainingRun


def verify_revision(
    repo_id: str,
    revision: str,
    *,
    endpoint: str | None = None,
    token: str | None = None,
    run: str | Path | TrainingRun | None = None,
    options: VerifyOptions | None = None,
) -> RevisionResult:
    """Download ``repo_id@revision`` into a new temporary cache, reload, check and quick-evaluate it.

    Args:
        repo_id: ``ORG/NAME``.
        revision: branch, tag or commit (publish passes its staged commit).
        endpoint: Hub URL; None: huggingface_hub's configured endpoint.
        token: Hub token; None: the configured one. Never written anywhere.
        run: the source run dir (or a :class:`TrainingRun`); enables the integrity checks and supplies
            the recorded metrics and the validation data.
        options: evaluation settings (:class:`VerifyOptions`).

    Returns:
        A :class:`RevisionResult`; ``result.passed`` is False with ``result.failures`` naming each reason.

    Example:
        >>> result = verify_revision("org/resnet-digits", "epoch-3", endpoint=hub.endpoint, run="runs/x")
        >>> result.passed, result.metrics["top1"]
        (True, 97.5)
    """
    import torch

    options = options or VerifyOptions()
    device = resolve_device(options.device)
    training_run = _as_run(run)
    explicit_data = eval_data_from_path(options.eval_data) if options.eval_data is not None else None
    versions = library_versions()
    device_info = describe_device(device, torch.float32)
    label = f"{repo_id}@{revision}"
    started = time.perf_counter()
    base = RevisionResult(repo_id, revision, None, None, device=device_info, versions=versions)

    with tempfile.TemporaryDirectory(prefix="hubkit-verify-") as cache:
        try:
            loaded = load_revision(
                repo_id, revision, endpoint=endpoint, token=token, cache_dir=cache, device=device
            )
        except (HubError, VerificationError) as exc:
            reason = exc.message if label in exc.message else f"{label}: {exc.message}"
            if exc.hint:  # e.g. a missing revision: say what to do, not only what went wrong
                reason += f" ({exc.hint})"
            return replace(base, failures=(reason,), timings=_since(started))
        t0 = time.perf_counter()
        file_failures = _file_failures(loaded, endpoint, token)
        base = replace(base, failures=tuple(f"{label} ({loaded.commit[:12]}): {p}" for p in file_failures))
        loaded.timings["hash_s"] = time.perf_counter() - t0
        return _check_loaded(loaded, training_run, explicit_data, options, device, base, started)


def verify_revisions(
    repo_id: str,
    revisions: Sequence[str],
    *,
    endpoint: str | None = None,
    token: str | None = None,
    run: str | Path | TrainingRun | None = None,
    options: VerifyOptions | None = None,
) -> list[RevisionResult]:
    """Verify several revisions one after the other (each in its own fresh cache); with ``run``, each
    also fails on a frozen-group mismatch of the run up to its epoch (``hubkit.verify.frozen``).

    Example:
        >>> [r.passed for r in verify_revisions("org/name", ["epoch-1", "main"], endpoint=url)]
        [True, True]
    """
    training_run = _as_run(run)
    results = [
        verify_revision(repo_id, rev, endpoint=endpoint, token=token, run=training_run, options=options)
        for rev in revisions
    ]
    if training_run is None:
        return results
    # with the run at hand, its frozen groups are checked against its lock settings too
    from hubkit.verify.frozen import frozen_report, with_frozen_check

    report = frozen_report(training_run)
    return [with_frozen_check(result, report) for result in results]


def list_revisions(repo_id: str, *, endpoint: str | None = None, token: str | None = None) -> list[str]:
    """Every branch and tag of ``repo_id`` (``main`` first, then the others by name), for ``--all``.

    Example:
        >>> list_revisions("org/resnet-digits", endpoint=url)
        ['main', 'epoch-000', 'epoch-004']
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    try:
        refs = with_retries(
            HfApi(endpoint=endpoint, token=token).list_repo_refs, repo_id, what="listing refs"
        )
    except (HfHubHTTPError, OSError) as exc:
        raise HubError(
            f"could not list the revisions of {repo_id}: {type(exc).__name__}: {exc}",
            hint="check the repo id, --endpoint and --token",
        ) from exc
    names = {ref.name for ref in refs.branches} | {ref.name for ref in refs.tags}
    return sorted(names, key=lambda name: (name != "main", name))


# --- steps ----------------------------------------------------------------------------------------


def _check_loaded(
    loaded: LoadedModel,
    run: TrainingRun | None,
    explicit_data: EvalData | None,
    options: VerifyOptions,
    device: torch.device,
    base: RevisionResult,
    started: float,
) -> RevisionResult:
    label = f"{loaded.repo_id}@{loaded.revision} ({loaded.commit[:12]})"
    record = _revision_record(loaded)
    failures: list[str] = list(base.failures)
    notes: list[str] = []
    weights = str(record["weights"])
    recorded = recorded_metrics(record, run)
    if run is not None and frameworks.get(run.framework) is not frameworks.get(loaded.library):
        failures.append(
            f"{label}: the revision is a {loaded.library} model but --run is a {run.framework} run"
        )
        run = None
    timings = dict(loaded.timings)

    data = explicit_data or _run_eval_data(run, record, loaded.library)
    outcome: EvalOutcome | None = None
    available = 0
    if data is None:
        failures.append(
            f"{label}: no evaluation data: the run records no validation data that exists here; pass --eval-data"
        )
    else:
        t0 = time.perf_counter()
        try:
            outcome, available = _evaluate(loaded, data, run, record, options, device)
        except HubkitError:
            raise
        except Exception as exc:  # a model that loads but cannot run is a finding
            failures.append(f"{label}: evaluation failed: {type(exc).__name__}: {exc}")
        synchronize(device)
        timings["eval_s"] = time.perf_counter() - t0
        if outcome is not None and outcome.num_samples:
            timings["images_per_s"] = outcome.num_samples / max(timings["eval_s"], 1e-9)

    checks: tuple[MetricCheck, ...] = ()
    if outcome is not None:
        limited = outcome.num_samples < available
        checks = _metric_checks(loaded.library, outcome.metrics, recorded, options.tolerance, limited)
        if limited:
            notes.append(f"--limit {options.limit}: metrics measured on a subset, reported but not checked")
        for check in checks:
            if not check.passed:
                failures.append(
                    f"{label}: {check.name} {check.measured:.3f} differs from {check.source} "
                    f"{check.recorded:.3f} by {abs(check.delta or 0):.3f} > tolerance {check.tolerance}"
                )
        if not any(c.checked for c in checks) and not limited:
            notes.append(
                f"no metric recorded for epoch {recorded.epoch} ({recorded.source}) matches what was measured "
                f"on {data.path.name if data else '?'}: measured values are reported, not checked"
            )

    integrity = None
    if run is not None:
        from hubkit.verify.checks import check_integrity

        t0 = time.perf_counter()
        integrity, integrity_failures = check_integrity(
            loaded, run, record, weights, outcome.first_batch if outcome else None, device, options
        )
        failures.extend(f"{label}: {reason}" for reason in integrity_failures)
        timings["integrity_s"] = time.perf_counter() - t0
    compared = any(c.checked for c in checks) or (integrity is not None and integrity.tensors_compared > 0)
    if not compared and not failures and not (outcome is not None and outcome.num_samples < available):
        failures.append(
            f"{label}: nothing to verify against: no recorded metric matches the evaluation and no source run "
            "was given; pass --run RUN_DIR (or evaluate on the data the run recorded its metrics on)"
        )
    timings["total_s"] = time.perf_counter() - started
    return replace(
        base,
        commit=loaded.commit,
        library=loaded.library,
        failures=tuple(failures),
        epoch=recorded.epoch,
        weights=weights,
        eval_data=_describe_data(data),
        num_samples=outcome.num_samples if outcome else None,
        metrics=dict(outcome.metrics) if outcome else {},
        checks=checks,
        integrity=integrity,
        notes=tuple(notes),
        timings=timings,
    )


def _evaluate(
    loaded: LoadedModel,
    data: EvalData,
    run: TrainingRun | None,
    record: dict[str, Any],
    options: VerifyOptions,
    device: torch.device,
) -> tuple[EvalOutcome, int]:
    """Run the framework's quick-eval on the data; return it with the data set's size."""
    return frameworks.get(loaded.library).quick_eval(loaded, data, run, record, options, device)


def _metric_checks(
    library: str, measured: dict[str, float], recorded: Recorded, tolerance: float, limited: bool
) -> tuple[MetricCheck, ...]:
    checks = []
    for name, value in measured.items():
        mapping = frameworks.get(library).recorded_metrics.get(name)
        if mapping is None:
            continue
        recorded_name, factor, gated = mapping
        raw = recorded.values.get(recorded_name)
        value_recorded = float(raw) * factor if isinstance(raw, int | float) else None
        source = f"{recorded.source} {recorded_name}" + (
            f", epoch {recorded.epoch}" if recorded.epoch is not None else ""
        )
        unit = "loss" if "loss" in name else "points"
        checks.append(
            MetricCheck(
                name=name,
                measured=value,
                recorded=value_recorded,
                tolerance=tolerance if gated and not limited else None,
                source=source,
                unit=unit,
            )
        )
    return tuple(checks)


def _file_failures(loaded: LoadedModel, endpoint: str | None, token: str | None) -> list[str]:
    """Downloaded bytes vs the Hub's listing of the verified commit and vs hubkit.json's record."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    from hubkit.verify.integrity import check_files

    try:
        api = HfApi(endpoint=endpoint, token=token)
        tree = with_retries(
            lambda: list(api.list_repo_tree(loaded.repo_id, revision=loaded.commit, recursive=True)),
            what="listing files",
        )
    except (HfHubHTTPError, OSError) as exc:
        return [f"could not list the files of the revision to check them: {exc}"]
    return check_files(loaded.snapshot_path, tree, loaded.record)


def _revision_record(loaded: LoadedModel) -> dict[str, Any]:
    """hubkit.json, with ``weights`` and ``epoch`` filled from the safetensors metadata when it lacks them."""
    from safetensors import safe_open

    record = dict(loaded.record or {})
    with safe_open(str(loaded.weights_path), framework="pt") as fh:
        meta = fh.metadata() or {}
    if record.get("weights") not in ("ema", "raw"):
        record["weights"] = meta.get("weights") if meta.get("weights") in ("ema", "raw") else "raw"
    if not isinstance(record.get("epoch"), int) and str(meta.get("epoch", "")).isdigit():
        record["epoch"] = int(meta["epoch"])
    return record


def _run_eval_data(run: TrainingRun | None, record: dict[str, Any], library: str) -> EvalData | None:
    """The validation data the run recorded, when it exists on this machine."""
    candidates: list[tuple[str, str]] = []
    if run is not None and run.val_data:
        candidates.append((run.val_data, "the run's args"))
    hyper = record.get("hyperparameters")
    if not isinstance(hyper, dict):
        hyper = {}
    candidates.extend(
        (path, "hubkit.json args") for path in frameworks.get(library).eval_data_candidates(hyper)
    )
    for raw_path, origin in candidates:
        paths = [Path(raw_path)]
        if run is not None and not Path(raw_path).is_absolute():
            paths.append(run.path / raw_path)
        for path in paths:
            if path.exists():
                keys = _csv_keys(run, record)
                return (
                    eval_data_from_path(path, origin, **keys)
                    if path.is_file()
                    else EvalData(path, "image-folder", origin)
                )
    return None


def _csv_keys(run: TrainingRun | None, record: dict[str, Any]) -> dict[str, str]:
    keys = {}
    for arg in ("csv_img_key", "csv_caption_key", "csv_separator"):
        value = run_arg(run, record, arg)
        if isinstance(value, str) and value:
            keys[arg] = value
    return keys


def run_arg(run: TrainingRun | None, record: Mapping[str, Any], name: str) -> Any:
    """Argument ``name`` as the run recorded it, else as ``hubkit.json`` recorded it (None: neither).

    Example:
        >>> run_arg(None, {"hyperparameters": {"batch_size": 32}}, "batch_size")
        32
    """
    if run is not None and name in run.hyperparams.raw:
        return run.hyperparams.raw[name]
    hyper = record.get("hyperparameters")
    return hyper.get(name) if isinstance(hyper, dict) else None


def _describe_data(data: EvalData | None) -> str | None:
    if data is None:
        return None
    return f"{data.path.name} ({data.kind}, from {data.origin})"


def _as_run(run: str | Path | TrainingRun | None) -> TrainingRun | None:
    if run is None or not isinstance(run, str | Path):
        return run
    from hubkit.runs import read_run

    return read_run(run)


def _since(started: float) -> dict[str, float]:
    return {"total_s": time.perf_counter() - started}


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_TOLERANCE",
    "IntegrityReport",
    "VerifyOptions",
    "list_revisions",
    "verify_revision",
    "verify_revisions",
]
