"""Make the :class:`~hubkit.publish.plan.PublishPlan` of a publish: local facts plus read-only remote calls.

Per selected revision the planner decides ``publish`` / ``unchanged`` / ``update`` / ``replace`` (see
:mod:`hubkit.publish.plan`); conflicts (another run's weights on a branch, on main, or a tag that would
move) stop everything here, before any write. Nothing is written remotely; the only local writes are the
records of revisions found unchanged (never in a dry run).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from hubkit.errors import RecordError, RemoteConflictError
from hubkit.layout import HUBKIT_JSON, VERIFICATION_JSON, HubkitRecord
from hubkit.publish import cache
from hubkit.publish.content import Content, Converter, from_record
from hubkit.publish.files import LocalFile, changed_files
from hubkit.publish.metadata import split_metrics
from hubkit.publish.naming import BranchFields, branch_names
from hubkit.publish.plan import PublishPlan, RevisionPlan, extra_remote, release_weights_files, run_inputs
from hubkit.publish.progress import Progress
from hubkit.publish.remote import Refs, Remote
from hubkit.publish.revfiles import ReleaseFiles
from hubkit.publish.verification import passed

if TYPE_CHECKING:
    from hubkit.publish.options import PublishOptions
    from hubkit.runs import SelectedCheckpoint, TrainingRun


def revision_stubs(
    run: TrainingRun,
    items: list[SelectedCheckpoint],
    repo_id: str,
    options: PublishOptions,
) -> list[RevisionPlan]:
    """Name each selected checkpoint's branch and key its inputs (local only; bad names fail here).

    Example:
        >>> [r.name for r in revision_stubs(run, items, "local/x", PublishOptions())]  # doctest: +SKIP
        ['epoch-000', 'epoch-004']
    """
    total = run.hyperparams.epochs or len(run.epochs)
    fields = [BranchFields(i.epoch, total, _step(i), run.name) for i in items]
    names = branch_names(options.branch_format, fields)
    inputs = run_inputs(run, options.template_dir)
    stubs = []
    previous: dict[int, str | None] = {}
    for i, (name, item) in enumerate(zip(names, items, strict=True)):
        # hubkit.json's dynamics compare with the previous published revision: it is an input too
        previous[i] = names[i - 1] if i else None
        metrics, _, _ = split_metrics(item.checkpoint.metrics.values if item.checkpoint.metrics else {})
        key = cache.input_key(
            {
                "kind": "revision",
                "repo": repo_id,
                "revision": name,
                "checkpoint": cache.file_identity(item.checkpoint.path),
                "reasons": list(item.reasons),
                "weights": options.weights,
                "verify": options.verify,
                "main": options.main,
                "license": options.license,
                "run": inputs,
                "previous": [previous[i], cache.file_identity(items[i - 1].checkpoint.path) if i else None]
                if options.dynamics
                else None,
            }
        )
        stubs.append(RevisionPlan(name=name, item=item, metrics=metrics, key=key))
    return stubs


class Planner:
    """Decides what to do with each revision, the main branch and the tag (read-only remote calls)."""

    def __init__(
        self,
        options: PublishOptions,
        remote: Remote,
        converter: Converter,
        files: ReleaseFiles,
        progress: Progress,
    ) -> None:
        self.options = options
        self.remote = remote
        self.converter = converter
        self.files = files
        self.progress = progress

    def plan(self, stubs: list[RevisionPlan], main_epoch: int | None) -> PublishPlan:
        """The plan for ``stubs`` (from :func:`revision_stubs`).

        Raises:
            RemoteConflictError: a branch holds other weights (without ``--force``), main holds another
                run's weights, or the tag would move.
        """
        refs = self.remote.refs()
        conflicts: list[str] = []
        revisions = tuple(self._revision(stub, refs or Refs(), conflicts) for stub in stubs)
        run = self.files.run
        conflicts += self._main_conflicts(refs or Refs(), main_epoch, run.name)
        tag = self.options.tag
        if refs is not None and tag in refs.tags and not self.options.force:
            unchanged = all(r.action == "unchanged" for r in revisions)
            if not unchanged or refs.tags[tag] != refs.branches.get("main"):
                conflicts.append(f"tag {tag!r} already exists at {refs.tags[tag][:7]}")
        if conflicts:
            raise RemoteConflictError(
                f"{self.remote.repo_id} already holds different content: " + "; ".join(conflicts),
                hint="nothing was changed; publish to a new --repo / --branch-format / --tag, or pass --force to "
                "replace the remote revisions with new commits",
            )
        if self.options.dry_run:
            revisions = tuple(self._with_sizes(r) for r in revisions)
        return PublishPlan(
            repo_id=self.remote.repo_id, run=run, revisions=revisions, main_epoch=main_epoch, refs=refs
        )

    def content(self, rev: RevisionPlan, *, prefer_record: bool = False) -> Content:
        """``rev``'s converted files: from the conversion record when allowed, else converted now."""
        if rev.content is not None and (prefer_record or rev.content.converted):
            return rev.content
        known = from_record(self.files.run, rev.item, self.options.weights) if prefer_record else None
        if known is not None:
            return known
        with self.progress.timed("convert"):
            content = self.converter.result(rev.name, rev.item)
        self.progress.advance("convert")
        return content

    def _revision(self, rev: RevisionPlan, refs: Refs, conflicts: list[str]) -> RevisionPlan:
        commit = refs.branches.get(rev.name)
        if commit is None:
            known = from_record(self.files.run, rev.item, self.options.weights)
            # sizes for the dry-run plan; the bytes come from a fresh conversion
            return replace(rev, action="publish", note="new branch", files=known.files if known else ())
        remote_files = self.remote.files(commit)
        rev = replace(
            rev,
            remote_commit=commit,
            remote_files=remote_files,
            known_objects=frozenset(f.sha256 for f in remote_files.values() if f.sha256),
        )
        return self._by_record(rev) or self._existing(rev, conflicts)

    def _by_record(self, rev: RevisionPlan) -> RevisionPlan | None:
        """``rev`` as unchanged when a past publish with the same inputs left exactly its files there."""
        record = cache.load_plan(rev.key)
        if record is None or rev.remote_files is None:
            return None
        files = tuple(LocalFile.from_record(f) for f in record.files)
        if changed_files(files, rev.remote_files) or extra_remote(files, rev.remote_files, None):
            return None
        return replace(
            rev, action="unchanged", note="identical files on the Hub", files=files, verified=record.verified
        )

    def _existing(self, rev: RevisionPlan, conflicts: list[str]) -> RevisionPlan:
        remote_files, commit = rev.remote_files, rev.remote_commit
        assert remote_files is not None and commit is not None
        content = self.content(rev, prefer_record=True)
        rev = replace(rev, content=content)
        if changed_files([content.weights_file], remote_files):
            if not self.options.force:
                conflicts.append(
                    f"branch {rev.name!r} ({commit[:7]}) holds other weights than epoch {rev.epoch}"
                )
            return replace(rev, action="replace", note="branch holds different weights")
        verification = None
        if VERIFICATION_JSON in remote_files:
            verification = self.remote.read_small(commit, VERIFICATION_JSON)
        expected = self.files.expected(rev.name, rev.item, rev.metrics, content, verification)
        rev = replace(rev, verification=verification, files=expected, verified=passed(verification))
        todo = changed_files(expected, remote_files) or extra_remote(expected, remote_files, None)
        needs_verify = self.options.verify and verification is None
        if todo or needs_verify:
            why = (
                "same weights, verification missing" if needs_verify else "same weights, other files changed"
            )
            return replace(rev, action="update", note=why)
        if not self.options.dry_run:
            remember(rev.key, expected, rev.verified)
        return replace(rev, action="unchanged", note="identical files on the Hub")

    def _with_sizes(self, rev: RevisionPlan) -> RevisionPlan:
        """A dry run's revision with all its files known (converting when no record tells their sizes)."""
        if rev.action == "unchanged" or any(f.has_content for f in rev.files):
            return rev
        content = self.content(rev)
        return replace(
            rev, files=self.files.expected(rev.name, rev.item, rev.metrics, content, rev.verification)
        )

    def _main_conflicts(self, refs: Refs, main_epoch: int | None, run_name: str) -> list[str]:
        head = refs.branches.get("main")
        if main_epoch is None or head is None or self.options.force:
            return []
        remote = self.remote.files(head)
        if not any(p in remote for p in release_weights_files()):
            return []  # main holds no weights (a fresh repo, or only a README): nothing to overwrite
        if HUBKIT_JSON in remote:
            try:
                record = HubkitRecord.from_json(self.remote.read_small(head, HUBKIT_JSON))
            except RecordError:
                record = None  # unreadable: nothing says main comes from this run
            if record is not None and record.run.name == run_name:
                return []  # main holds an epoch of this same run: moving it is the point of publishing
        return [f"main ({head[:7]}) holds weights that hubkit did not publish from run {run_name!r}"]


def remember(key: str, files: tuple[LocalFile, ...], verified: bool | None) -> None:
    """Record the files a revision ended up with, under the key of all its inputs."""
    cache.store_plan(key, cache.PlanRecord(files=tuple(f.to_record() for f in files), verified=verified))


def _step(item: SelectedCheckpoint) -> int | None:
    metrics = item.checkpoint.metrics
    step = metrics.get("step") if metrics else None
    return int(step) if step is not None else None
