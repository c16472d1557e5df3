"""``main``: the final (or best) checkpoint with the run card, the training curves and the revisions table.

Runs only after every selected revision is in place (and verified). The weights, config, ``hubkit.json``
and ``verification.json`` are *copied* from the revision's branch (the Hub references the stored objects:
nothing is converted or uploaded again); only the card and the curve picture are new bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hubkit.publish import cache
from hubkit.publish import card as cards
from hubkit.publish.curves import CURVE_FILENAME, CurveData
from hubkit.publish.files import LocalFile, changed_files
from hubkit.publish.plan import MAIN_MANAGED, extra_remote

if TYPE_CHECKING:
    from hubkit.publish.plan import RevisionState
    from hubkit.runs import TrainingRun

README = "README.md"


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


def _note(rev: RevisionState, main_epoch: int | None, last_epoch: int) -> str:
    notes = []
    if rev.epoch == main_epoch:
        notes.append("on main")
    if rev.epoch == last_epoch:
        notes.append("final")
    notes.extend(r for r in rev.item.reasons if not r.startswith("held by main"))
    return "; ".join(dict.fromkeys(notes))


def main_readme(
    p: Any,
    rev: RevisionState,
    rows: list[tuple[str, str, int, Any, str]],
    *,
    curve_image: str | None = None,
    verification: bytes | None = None,
    weights: str | None = None,
) -> bytes:
    """Main's card for ``rev`` with the revisions table ``rows`` (the publish preflight renders it too)."""
    return cards.main_card(
        p._base_context(),
        p.run_,
        rev.item,
        metrics=rev.metrics,
        rows=rows,
        curve_image=curve_image,
        verification=verification,
        template_dir=p.options.template_dir,
        weights=weights,
    )


def publish_main(p: Any) -> str | None:
    """Bring ``main`` to the main checkpoint's files plus the run card; returns main's commit (None: no main).

    Args:
        p: the running publisher (``hubkit.publish.publisher._Publisher``): its run, revisions, remote.
    """
    if p.main_epoch is None:
        return None
    run: TrainingRun = p.run_
    rev: RevisionState = next(r for r in p.revs if r.epoch == p.main_epoch)
    refs = p.remote.refs()
    head = refs.branches.get("main") if refs else None
    remote_files = p.remote.files(head) if head else {}
    rows = [
        (r.name, r.commit or "", r.epoch, r.metrics, _note(r, p.main_epoch, run.checkpoints[-1].epoch))
        for r in p.revs
    ]
    key = cache.input_key(
        {
            "kind": "main",
            "repo": p.repo_id,
            "revision_keys": [r.key for r in p.revs],
            "rows": rows,
            "epoch": rev.epoch,
        }
    )
    record = cache.load_plan(key)
    if record is not None and head is not None:
        files = tuple(LocalFile.from_record(f) for f in record.files)
        if not changed_files(files, remote_files) and not extra_remote(files, remote_files, MAIN_MANAGED):
            return str(head)

    copied = [f for f in rev.files if f.path != README]
    verification = next((f for f in rev.files if f.path == "verification.json"), None)
    verification_bytes = verification.data if verification is not None else None
    if verification is not None and verification_bytes is None:
        verification_bytes = p.remote.read_small(rev.commit, "verification.json")
    with p.progress.timed("card"):
        png = p.curves_png()
        readme = main_readme(
            p,
            rev,
            rows,
            curve_image=CURVE_FILENAME,
            verification=verification_bytes,
            weights=_weights(p, rev),
        )
    generated = [LocalFile.from_bytes(CURVE_FILENAME, png), LocalFile.from_bytes(README, readme)]
    expected = (*copied, *generated)
    changed = changed_files(expected, remote_files)
    deletes = extra_remote(expected, remote_files, MAIN_MANAGED)
    commit = head
    if changed or deletes:
        commit = _commit(p, rev, head, changed, deletes)
    cache.store_plan(key, cache.PlanRecord(files=tuple(f.to_record() for f in expected), verified=None))
    return str(commit) if commit else None


def _weights(p: Any, rev: RevisionState) -> str | None:
    """Which weights main holds ("ema" / "raw"): from the conversion, else from the branch's hubkit.json."""
    if rev.content is not None:
        return str(rev.content.record.weights)
    meta = next((f for f in rev.files if f.path == "hubkit.json"), None)
    data = meta.data if meta is not None else None
    if data is None and meta is not None and rev.commit:
        data = p.remote.read_small(rev.commit, "hubkit.json")
    if not data:
        return None
    import json

    value = json.loads(data).get("weights")
    return str(value) if value else None


def _commit(
    p: Any, rev: RevisionState, head: str | None, changed: list[LocalFile], deletes: list[str]
) -> str:
    from huggingface_hub import CommitOperationAdd, CommitOperationCopy, CommitOperationDelete

    ops: list[Any] = []
    for f in changed:
        if f.data is not None:
            ops.append(CommitOperationAdd(path_in_repo=f.path, path_or_fileobj=f.data))
            p.main_bytes_uploaded = getattr(p, "main_bytes_uploaded", 0) + f.size
        else:  # the branch's own object: the Hub links it, no bytes travel
            ops.append(
                CommitOperationCopy(src_path_in_repo=f.path, path_in_repo=f.path, src_revision=rev.commit)
            )
    ops += [CommitOperationDelete(path_in_repo=path) for path in deletes]
    with p.progress.timed("upload"):
        return str(
            p.remote.commit("main", ops, f"hubkit: main = epoch {rev.epoch} ({rev.name})", parent=head)
        )
