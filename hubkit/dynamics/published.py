"""Analyse a published repo: each revision's safetensors, its framework from the files, no run needed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hubkit import frameworks
from hubkit.dynamics.analyse import build_report
from hubkit.dynamics.model import CheckpointRef, DynamicsReport
from hubkit.dynamics.weights import SafetensorsWeights, WeightSource
from hubkit.errors import InputError


def analyse_repo(
    repo_id: str,
    revisions: Sequence[str] = (),
    *,
    endpoint: str | None,
    token: str | None,
    cache_dir: Path,
    fine: bool = False,
) -> DynamicsReport:
    """Training dynamics of a published repo, from each revision's safetensors (no run needed).

    Args:
        repo_id: ``org/name``.
        revisions: revisions to compare (default: every branch but ``main`` and staging branches, ordered
            by the epoch their ``hubkit.json`` records).
        endpoint / token: the Hub.
        cache_dir: where revisions are downloaded.
        fine: timm repos: one group per block.

    Example:
        >>> analyse_repo("local/timm-digits", endpoint=url, token=None, cache_dir=tmp).checkpoints[0].label
        'epoch-000'
    """
    from hubkit.layout import HUBKIT_JSON, HubkitRecord
    from hubkit.publish.naming import STAGING_PREFIX
    from hubkit.verify.loader import download_revision
    from hubkit.verify.verifier import list_revisions

    names = list(revisions) or [
        r for r in list_revisions(repo_id, endpoint=endpoint, token=token)
        if r != "main" and not r.startswith(STAGING_PREFIX)
    ]  # fmt: skip
    if not names:
        raise InputError(
            f"{repo_id} has no revision besides main to compare",
            hint="publish several checkpoints (hubkit publish --select) or name revisions with --revision",
        )
    found = []
    for name in names:
        snapshot = download_revision(repo_id, name, endpoint=endpoint, token=token, cache_dir=cache_dir)
        record_path = snapshot / HUBKIT_JSON
        record = HubkitRecord.from_json(record_path.read_bytes()) if record_path.is_file() else None
        found.append((record.epoch if record else None, name, snapshot, record))
    if not revisions:
        found.sort(key=lambda item: (item[0] is None, item[0] if item[0] is not None else 0, item[1]))
    _, last_name, last_snapshot, last_record = found[-1]
    framework = frameworks.detect_revision(last_snapshot)
    if framework is None:
        raise InputError(
            f"{repo_id}@{last_name} is not a release of any framework hubkit knows "
            f"(files: {sorted(p.name for p in last_snapshot.iterdir())})",
            hint=f"known frameworks: {', '.join(frameworks.names())}",
        )
    hyperparams = framework.record_hyperparams(last_record.hyperparameters if last_record else {})
    model = framework.revision_model(last_snapshot)
    refs = [CheckpointRef(name, epoch, f"{repo_id}@{name}") for epoch, name, _, _ in found]
    sources: list[WeightSource] = [
        SafetensorsWeights(snapshot / framework.weights_file, name=name) for _, name, snapshot, _ in found
    ]
    architecture = last_record.run.architecture if last_record else ""
    return build_report(repo_id, framework, architecture, model, hyperparams, refs, sources, fine=fine)
