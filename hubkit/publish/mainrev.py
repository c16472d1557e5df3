"""``main``: the final (or best) checkpoint with the run card, the training curves, the revisions table and
the training dynamics between the revisions.

Runs only after every selected revision is in place (and verified). The weights, config, ``hubkit.json``
and ``verification.json`` are *copied* from the revision's branch (the Hub references the stored objects:
nothing is converted or uploaded again); only the card and the two pictures are new bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubkit.layout import (
    HUBKIT_JSON,
    README,
    TRAINING_CURVES,
    TRAINING_DYNAMICS,
    VERIFICATION_JSON,
    HubkitRecord,
)
from hubkit.publish import cache
from hubkit.publish.curves import CurveData
from hubkit.publish.dynamics import main_files
from hubkit.publish.files import LocalFile, RemoteFile, changed_files
from hubkit.publish.plan import PublishPlan, extra_remote, main_managed
from hubkit.publish.progress import Progress
from hubkit.publish.remote import Remote
from hubkit.publish.revfiles import MainRow, ReleaseFiles

if TYPE_CHECKING:
    from hubkit.dynamics.model import DynamicsReport
    from hubkit.runs import SelectedCheckpoint, TrainingRun


def curve_data(run: TrainingRun, published: tuple[int, ...], main_epoch: int | None) -> CurveData:
    """The curves of ``run``: every ``*loss*`` column, and the primary metric when it is not a loss.

    Example:
        >>> curve_data(run, (2, 4), 4).metric_name  # doctest: +SKIP
        'eval_top1'
    """
    epochs = tuple(m.epoch for m in run.epochs)
    names = sorted({k for m in run.epochs for k in m.values if "loss" in k.lower()})
    losses = {name: [m.get(name) for m in run.epochs] for name in names}
    metric = run.primary_metric if "loss" not in run.primary_metric.lower() else None
    values = [m.get(metric) for m in run.epochs] if metric else []
    return CurveData(
        epochs=epochs,
        losses=losses,
        metric_name=metric if any(v is not None for v in values) else None,
        metric=values,
        published=published,
        main_epoch=main_epoch,
        title=f"{run.name} ({run.architecture})",
    )


@dataclass(frozen=True)
class MainRevision:
    """A revision of this publish as main sees it (in place on the Hub by the time main is written)."""

    name: str  # "epoch-004"
    epoch: int  # 4
    item: SelectedCheckpoint  # the checkpoint and why it was selected
    metrics: Mapping[str, float]  # results recorded for its epoch
    key: str  # input key of its plan record
    commit: str  # its branch's commit
    files: tuple[LocalFile, ...]  # its files
    weights: str | None  # "ema" | "raw" when known from its conversion; None: read from its hubkit.json


@dataclass(frozen=True)
class MainInputs:
    """Everything main is made from."""

    repo_id: str  # "local/timm-digits"
    run: TrainingRun
    main_epoch: int  # the epoch main holds
    revisions: tuple[MainRevision, ...]  # every revision of the publish, ascending epoch
    curves: Callable[[], bytes]  # main's training-curve PNG (drawn in the background)
    dynamics: Callable[[], DynamicsReport | None] = lambda: None  # the revisions' dynamics (background)


def _note(reasons: tuple[str, ...], epoch: int, main_epoch: int | None, last_epoch: int) -> str:
    notes = []
    if epoch == main_epoch:
        notes.append("on main")
    if epoch == last_epoch:
        notes.append("final")
    notes.extend(r for r in reasons if not r.startswith("held by main"))
    return "; ".join(dict.fromkeys(notes))


def preview_rows(plan: PublishPlan) -> list[MainRow]:
    """Main's revisions table before anything is committed (placeholder commits), for the preflight."""
    return [(r.name, r.commit or "0" * 40, r.epoch, r.metrics, "") for r in plan.revisions]


@dataclass(frozen=True)
class MainTarget:
    """Where main's content is committed: onto ``main`` itself, or onto a pull request whose merge moves
    main (``hubkit publish --create-pr``)."""

    ref: str | Callable[[], str]  # "main" or "refs/pr/3"; a callable opens a pull request when needed
    head: str | None  # the commit the new one follows (None: main does not exist yet)
    at_head: Mapping[str, RemoteFile]  # the files at ``head``
    main_head: str | None  # main's commit now
    main_files: Mapping[str, RemoteFile]  # main's files now: the ones hubkit does not manage are kept

    @classmethod
    def main(cls, remote: Remote) -> MainTarget:
        refs = remote.refs()
        head = refs.branches.get("main") if refs else None
        files = remote.files(head) if head else {}
        return cls(ref="main", head=head, at_head=files, main_head=head, main_files=files)


def publish_main(
    inputs: MainInputs,
    files: ReleaseFiles,
    remote: Remote,
    progress: Progress,
    target: MainTarget | None = None,
) -> tuple[str | None, int]:
    """Bring ``main`` (or ``target``) to the main checkpoint's files plus the run card.

    Returns:
        The commit holding main's content, and the bytes of main's own new files (card and curves) sent.
    """
    run = inputs.run
    rev = next(r for r in inputs.revisions if r.epoch == inputs.main_epoch)
    target = target or MainTarget.main(remote)
    head, remote_files = target.head, target.at_head
    last = run.checkpoints[-1].epoch
    rows: list[MainRow] = [
        (r.name, r.commit, r.epoch, r.metrics, _note(r.item.reasons, r.epoch, inputs.main_epoch, last))
        for r in inputs.revisions
    ]
    key = cache.input_key(
        {
            "kind": "main",
            "repo": inputs.repo_id,
            "revision_keys": [r.key for r in inputs.revisions],
            "rows": rows,
            "epoch": rev.epoch,
            "ref": target.ref if isinstance(target.ref, str) else "pull request",
        }
    )
    record = cache.load_plan(key)
    if record is not None and head is not None:
        known = tuple(LocalFile.from_record(f) for f in record.files)
        if not changed_files(known, remote_files) and not extra_remote(known, remote_files, main_managed()):
            return str(head), 0

    copied = [f for f in rev.files if f.path != README]
    verification = next((f for f in rev.files if f.path == VERIFICATION_JSON), None)
    verification_bytes = verification.data if verification is not None else None
    if verification is not None and verification_bytes is None:
        verification_bytes = remote.read_small(rev.commit, VERIFICATION_JSON)
    with progress.timed("card"):
        png = inputs.curves()
        report = inputs.dynamics()
        dynamics_png, facts = main_files(report) if report is not None else (None, None)
        readme = files.main_readme(
            rev.item,
            rev.metrics,
            rows,
            curve_image=TRAINING_CURVES,
            verification=verification_bytes,
            weights=rev.weights or _recorded_weights(rev, remote),
            dynamics=facts,
        )
    generated = [LocalFile.from_bytes(TRAINING_CURVES, png), LocalFile.from_bytes(README, readme)]
    if dynamics_png is not None:
        generated.append(LocalFile.from_bytes(TRAINING_DYNAMICS, dynamics_png))
    expected = (*copied, *generated)
    changed = changed_files(expected, remote_files)
    deletes = extra_remote(expected, remote_files, main_managed())
    restored = _restored(target, {f.path for f in expected})
    commit, sent = head, 0
    if changed or deletes or restored:
        commit, sent = _commit(remote, progress, rev, target, changed, deletes, restored)
    cache.store_plan(key, cache.PlanRecord(files=tuple(f.to_record() for f in expected), verified=None))
    return (str(commit) if commit else None), sent


def _restored(target: MainTarget, expected: set[str]) -> list[str]:
    """Main's own files (not hubkit's) that ``target``'s head lacks: a pull request's revision commits hold
    only the revisions' files, so its last commit brings them back for the merge to keep them."""
    managed = main_managed()
    return sorted(
        path
        for path, f in target.main_files.items()
        if path not in expected and path not in managed and target.at_head.get(path) != f
    )


def _recorded_weights(rev: MainRevision, remote: Remote) -> str | None:
    """Which weights main holds ("ema" / "raw") according to the revision's hubkit.json."""
    meta = next((f for f in rev.files if f.path == HUBKIT_JSON), None)
    data = meta.data if meta is not None else None
    if data is None and meta is not None and rev.commit:
        data = remote.read_small(rev.commit, HUBKIT_JSON)
    if not data:
        return None
    return HubkitRecord.from_json(data).weights


def _commit(
    remote: Remote,
    progress: Progress,
    rev: MainRevision,
    target: MainTarget,
    changed: list[LocalFile],
    deletes: list[str],
    restored: list[str],
) -> tuple[str, int]:
    from huggingface_hub import CommitOperationAdd, CommitOperationCopy, CommitOperationDelete

    ops: list[Any] = []
    sent = 0
    for f in changed:
        if f.data is not None:
            ops.append(CommitOperationAdd(path_in_repo=f.path, path_or_fileobj=f.data))
            sent += f.size
        else:  # the branch's own object: the Hub links it, no bytes travel
            ops.append(
                CommitOperationCopy(src_path_in_repo=f.path, path_in_repo=f.path, src_revision=rev.commit)
            )
    ops += [
        CommitOperationCopy(src_path_in_repo=p, path_in_repo=p, src_revision=target.main_head)
        for p in restored
    ]
    ops += [CommitOperationDelete(path_in_repo=path) for path in deletes]
    with progress.timed("upload"):
        message = f"hubkit: main = epoch {rev.epoch} ({rev.name})"
        ref = target.ref if isinstance(target.ref, str) else target.ref()
        return str(remote.commit(ref, ops, message, parent=target.head)), sent
