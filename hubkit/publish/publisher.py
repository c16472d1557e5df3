"""``hubkit publish``: key checkpoints of a run become Hub branches, the final (or best) one becomes ``main``.

Order of work, so that nothing half-made is ever visible and a re-run completes what is missing:

1. read the run, select checkpoints, name branches (bad names fail here, before any remote call);
2. plan against the remote repo with read-only calls; conflicts stop everything before any write;
3. per new revision: one commit on a staging branch made from the repo's initial commit (weights, config,
   hubkit.json, README), verification of that commit, one more commit adding ``verification.json`` and the
   verified card, then the final branch is created at that commit and the staging branch deleted;
4. ``main`` is committed only once every revision is in place (and verified), then ``--tag``.

Conversion and the weights upload of the next checkpoints run in background threads while the current one
is committed (an uploaded object is invisible until a commit refers to it).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubkit.cards.licenses import validate_license
from hubkit.errors import RemoteConflictError, VerificationError
from hubkit.publish import cache, quick
from hubkit.publish import card as cards
from hubkit.publish.content import Content, Converter, from_record, metadata_file
from hubkit.publish.curves import render_curves
from hubkit.publish.endpoint import Target, display_endpoint
from hubkit.publish.files import LocalFile, changed_files
from hubkit.publish.mainrev import curve_data, main_readme, publish_main
from hubkit.publish.metadata import split_metrics
from hubkit.publish.naming import (
    DEFAULT_BRANCH_FORMAT,
    BranchFields,
    branch_names,
    default_repo_id,
    staging_branch,
    validate_branch,
    validate_repo_id,
)
from hubkit.publish.plan import MAIN_MANAGED, MainMode, RevisionState, extra_remote, run_inputs, select
from hubkit.publish.progress import Progress
from hubkit.publish.remote import Refs, Remote
from hubkit.publish.report import FileReport, MainReport, PublishReport, RevisionReport
from hubkit.publish.verification import VERIFICATION_JSON, passed, verify_commit

if TYPE_CHECKING:
    from hubkit.cards.context import CardContext

README = "README.md"


@dataclass(frozen=True)
class PublishOptions:
    """Everything ``hubkit publish`` can be told (the CLI options, minus endpoint and token)."""

    repo_id: str | None = None  # "org/name"; None: derived from the run ("local/<run-name>") on the local hub
    select: tuple[str, ...] = ()  # ("key:6",); several specs are united
    weights: str | None = None  # "ema" | "raw" | None (the run's default)
    branch_format: str = DEFAULT_BRANCH_FORMAT  # "epoch-{epoch:03d}"
    main: MainMode = "last"  # "last" | "best" | "none"
    tag: str | None = None  # "v1"
    private: bool = False
    template_dir: Path | None = None  # user template overrides
    verify: bool = True
    eval_data: Path | None = None  # verification data (default: the run's validation data)
    device: str | None = None  # verification device ("auto", "cpu", "cuda")
    model_config: Path | None = None  # OpenCLIP model config JSON
    dry_run: bool = False
    force: bool = False  # replace remote revisions whose weights differ
    license: str | None = None  # "apache-2.0" (a Hub license id); None: the cards say none was given


def publish(
    run_dir: str | Path, options: PublishOptions, target: Target, progress: Progress | None = None
) -> PublishReport:
    """Publish ``run_dir`` to ``target`` and report what happened.

    Args:
        run_dir: a timm or OpenCLIP training output folder.
        options: see :class:`PublishOptions`.
        target: where to publish (:func:`hubkit.publish.endpoint.open_target`).
        progress: stage timings and bars (a silent one by default).

    Returns:
        The :class:`~hubkit.publish.report.PublishReport` (also printed by ``--json``).

    Raises:
        RepoIdError: invalid repo id, tag or branch names (before any remote call).
        RemoteConflictError: a remote revision holds other weights (without ``--force``).
        VerificationError: a staged revision failed verification (its final branch is not created).

    Example:
        >>> with open_target(None, None) as target:  # doctest: +SKIP
        ...     report = publish("runs/timm-digits", PublishOptions(), target)
    """
    return _Publisher(Path(run_dir), options, target, progress or Progress()).run()


class _Publisher:
    def __init__(self, run_dir: Path, options: PublishOptions, target: Target, progress: Progress) -> None:
        self.run_dir = run_dir
        self.options = options
        self.target = target
        self.progress = progress
        self._base: CardContext | None = None
        self._curves: Future[bytes] | None = None

    # --- 1. local facts ------------------------------------------------------------------------------
    def run(self) -> PublishReport:
        from hubkit.runs import read_run

        opts = self.options
        started = time.perf_counter()
        key = quick.run_key(self.run_dir, opts)
        repo = quick.recorded_repo(key)
        if repo is not None and opts.repo_id in (None, repo):
            from hubkit.hub.client import hub_api

            remote = Remote(hub_api(self.target.endpoint, self.target.token), repo, read_only=True)
            report = quick.unchanged(key, remote, opts.dry_run, started)
            if report is not None:
                return report
        with self.progress.timed("total"):
            with self.progress.timed("read"):
                self.run_ = read_run(self.run_dir, model_config=opts.model_config)
                items, self.main_epoch = select(self.run_, opts.select, opts.main)
                self.repo_id = validate_repo_id(opts.repo_id or default_repo_id(self.run_.name))
                validate_license(opts.license)
                if opts.tag is not None:
                    validate_branch(opts.tag)
                total = self.run_.hyperparams.epochs or len(self.run_.epochs)
                fields = [BranchFields(i.epoch, total, _step(i), self.run_.name) for i in items]
                names = branch_names(opts.branch_format, fields)
                inputs = run_inputs(self.run_, opts.template_dir)
                self.revs = [self._state(name, item, inputs) for name, item in zip(names, items, strict=True)]
            from hubkit.hub.client import hub_api

            self.remote = Remote(
                hub_api(self.target.endpoint, self.target.token), self.repo_id, read_only=opts.dry_run
            )
            with (
                tempfile.TemporaryDirectory(prefix="hubkit-publish-") as work,
                Converter(self.run_, opts.weights, Path(work), remember=not opts.dry_run) as self.converter,
            ):
                with self.progress.timed("plan"):
                    self.refs = self.remote.refs()
                    self._plan()
                to_convert = [r.item for r in self.revs if r.action in ("publish", "replace")]
                if not opts.dry_run and to_convert:
                    self.converter.warm_up()
                    self.converter.prefetch(to_convert)
                if opts.dry_run:
                    return self._report(main_commit=None)
                main_commit = self._execute()
        report = self._report(main_commit=main_commit)
        quick.remember(key, report)
        return report

    def _state(self, name: str, item: Any, inputs: dict[str, object]) -> RevisionState:
        metrics, _, _ = split_metrics(item.checkpoint.metrics.values if item.checkpoint.metrics else {})
        key = cache.input_key(
            {
                "kind": "revision",
                "repo": self.repo_id,
                "revision": name,
                "checkpoint": cache.file_identity(item.checkpoint.path),
                "reasons": list(item.reasons),
                "weights": self.options.weights,
                "verify": self.options.verify,
                "main": self.options.main,
                "license": self.options.license,
                "run": inputs,
            }
        )
        return RevisionState(name=name, item=item, metrics=metrics, key=key)

    # --- 2. plan (read-only) -------------------------------------------------------------------------
    def _plan(self) -> None:
        refs = self.refs or Refs()
        conflicts: list[str] = []
        for rev in self.revs:
            rev.remote_commit = refs.branches.get(rev.name)
            if rev.remote_commit is None:
                rev.action, rev.note = "publish", "new branch"
                known = from_record(self.run_, rev.item, self.options.weights)
                if known is not None:
                    rev.files = known.files  # sizes for the dry-run plan; bytes come from a fresh conversion
                continue
            rev.remote_files = self.remote.files(rev.remote_commit)
            rev.known_objects = {f.sha256 for f in rev.remote_files.values() if f.sha256}
            if self._unchanged_by_record(rev):
                continue
            self._plan_existing(rev, conflicts)
        conflicts += self._main_conflicts(refs)
        tag = self.options.tag
        if tag in refs.tags and not self.options.force and self._tag_would_move(refs, tag):
            conflicts.append(f"tag {tag!r} already exists at {refs.tags[tag][:7]}")
        if conflicts:
            raise RemoteConflictError(
                f"{self.repo_id} already holds different content: " + "; ".join(conflicts),
                hint="nothing was changed; publish to a new --repo / --branch-format / --tag, or pass --force to "
                "replace the remote revisions with new commits",
            )
        if self.options.dry_run:
            for rev in self.revs:
                if rev.action != "unchanged" and not any(f.has_content for f in rev.files):
                    self._expected(rev, self._content(rev))

    def _tag_would_move(self, refs: Refs, tag: str) -> bool:
        # Only a fully unchanged publish can leave main (and so the tag) where it is.
        return any(r.action != "unchanged" for r in self.revs) or refs.tags[tag] != refs.branches.get("main")

    def _unchanged_by_record(self, rev: RevisionState) -> bool:
        record = cache.load_plan(rev.key)
        if record is None or rev.remote_files is None:
            return False
        files = tuple(LocalFile.from_record(f) for f in record.files)
        if changed_files(files, rev.remote_files) or extra_remote(files, rev.remote_files, None):
            return False
        rev.action, rev.note, rev.files, rev.verified = (
            "unchanged",
            "identical files on the Hub",
            files,
            record.verified,
        )
        rev.commit = rev.remote_commit
        return True

    def _plan_existing(self, rev: RevisionState, conflicts: list[str]) -> None:
        assert rev.remote_files is not None
        content = self._content(rev, prefer_record=True)
        weights = content.weights_file
        if changed_files([weights], rev.remote_files):
            rev.action, rev.note = "replace", "branch holds different weights"
            if not self.options.force:
                conflicts.append(
                    f"branch {rev.name!r} ({(rev.remote_commit or '')[:7]}) holds other weights than epoch {rev.epoch}"
                )
            return
        if VERIFICATION_JSON in rev.remote_files:
            rev.verification = self.remote.read_small(rev.remote_commit or rev.name, VERIFICATION_JSON)
        expected = self._expected(rev, content)
        todo = changed_files(expected, rev.remote_files) or extra_remote(expected, rev.remote_files, None)
        needs_verify = self.options.verify and rev.verification is None
        if todo or needs_verify:
            rev.action = "update"
            rev.note = (
                "same weights, verification missing" if needs_verify else "same weights, other files changed"
            )
        else:
            rev.action, rev.note, rev.commit = "unchanged", "identical files on the Hub", rev.remote_commit
            self._remember(rev)

    def _main_conflicts(self, refs: Refs) -> list[str]:
        head = refs.branches.get("main")
        if self.main_epoch is None or head is None or self.options.force:
            return []
        remote = self.remote.files(head)
        if not any(p in remote for p in MAIN_MANAGED if p.endswith(".safetensors")):
            return []  # main holds no weights (a fresh repo, or only a README): nothing to overwrite
        if "hubkit.json" in remote:
            import json

            record = json.loads(self.remote.read_small(head, "hubkit.json"))
            if (record.get("run") or {}).get("name") == self.run_.name:
                return []  # main holds an epoch of this same run: moving it is the point of publishing
        return [f"main ({head[:7]}) holds weights that hubkit did not publish from run {self.run_.name!r}"]

    # --- building files ------------------------------------------------------------------------------
    def _content(self, rev: RevisionState, *, prefer_record: bool = False) -> Content:
        if rev.content is not None and (prefer_record or rev.content.converted):
            return rev.content
        content = from_record(self.run_, rev.item, self.options.weights) if prefer_record else None
        if content is None:
            with self.progress.timed("convert"):
                content = self.converter.result(rev.name, rev.item)
            self.progress.advance("convert")
        rev.content = content
        return content

    def _base_context(self) -> CardContext:
        if self._base is None:
            if self.options.dry_run:
                # The card's model statistics are cached in the user cache dir; a dry run writes nothing,
                # so that cache is pointed at a throwaway folder while the context is built.
                with (
                    tempfile.TemporaryDirectory(prefix="hubkit-dry-") as scratch,
                    _env("XDG_CACHE_HOME", scratch),
                ):
                    self._base = cards.base_context(
                        self.run_, self.repo_id, self.options.template_dir, license=self.options.license
                    )
            else:
                self._base = cards.base_context(
                    self.run_, self.repo_id, self.options.template_dir, license=self.options.license
                )
        return self._base

    def _readme(self, rev: RevisionState, content: Content, verification: bytes | None) -> LocalFile:
        data = cards.checkpoint_card(
            self._base_context(),
            self.run_,
            rev.item,
            revision=rev.name,
            weights=content.record.weights,
            metrics=rev.metrics,
            verification=verification,
            main_revision=None if self.main_epoch is None else "main",
            template_dir=self.options.template_dir,
        )
        return LocalFile.from_bytes(README, data)

    def _expected(self, rev: RevisionState, content: Content) -> tuple[LocalFile, ...]:
        """The revision's final files, given the verification it has (or None)."""
        files = [*content.files, metadata_file(self.run_, rev.item, content, rev.name)]
        if rev.verification is not None:
            files.append(LocalFile.from_bytes(VERIFICATION_JSON, rev.verification))
        files.append(self._readme(rev, content, rev.verification))
        rev.files = tuple(files)
        return rev.files

    def _remember(self, rev: RevisionState) -> None:
        rev.verified = passed(rev.verification)
        record = cache.PlanRecord(files=tuple(f.to_record() for f in rev.files), verified=rev.verified)
        if not self.options.dry_run:
            cache.store_plan(rev.key, record)

    # --- 3./4. execute -------------------------------------------------------------------------------
    def _execute(self) -> str | None:
        todo = [r for r in self.revs if r.action != "unchanged"]
        self.progress.start(
            {
                "convert": sum(r.action in ("publish", "replace") for r in todo),
                "upload": len(todo),
                "verify": len(todo) if self.options.verify else 0,
            }
        )
        # Three stages overlap: converting revision i+2, uploading the weights of i+1 (objects nobody
        # refers to yet, so nothing is visible) and committing i. At most three converted revisions
        # are on disk at once.
        self._ahead = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hubkit-upload")
        self._uploads: dict[str, Future[None]] = {}
        drawing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hubkit-curves")
        try:
            staged = [r for r in todo if r.action in ("publish", "replace")]
            self._preflight(staged)
            if self.main_epoch is not None:  # main's picture depends only on the plan: draw it meanwhile
                data = curve_data(self.run_, tuple(r.epoch for r in self.revs), self.main_epoch)
                self._curves = drawing.submit(render_curves, data)
            if self.refs is None:
                self.remote.ensure_repo(private=self.options.private)
            initial = self.remote.initial_commit() if staged else None
            for index, rev in enumerate(todo):
                for ahead in todo[index + 1 : index + 3]:
                    if ahead.action in ("publish", "replace"):
                        self.converter.submit(ahead.name, ahead.item)
                for ahead in todo[index : index + 2]:
                    self._upload_ahead(ahead)
                if rev.action == "update":
                    self._update(rev)
                else:
                    assert initial is not None
                    self._stage_and_promote(rev, initial)
                self.converter.discard(rev.name)
            self._cleanup_staging()
            main_commit = self._publish_main()
            self._tag(main_commit)
        finally:
            # On failure: uploads not started are dropped, a running one ends (its object stays unused).
            self._ahead.shutdown(wait=True, cancel_futures=True)
            drawing.shutdown(wait=True, cancel_futures=True)
            self.progress.stop()
        return main_commit

    def curves_png(self) -> bytes:
        """Main's training-curve PNG, drawn in the background since the preflight (main is published last)."""
        assert self._curves is not None, "main's curves are drawn whenever there is a main"
        return self._curves.result()

    def _upload_ahead(self, rev: RevisionState) -> None:
        """Start uploading ``rev``'s converted weights in the background (once its conversion is done)."""
        if rev.action not in ("publish", "replace") or rev.name in self._uploads:
            return

        def upload() -> None:
            from hubkit.hub.client import streaming_add

            weights = self.converter.result(rev.name, rev.item).weights_file
            if weights.local_path is None or weights.sha256 in rev.known_objects:
                return
            op = streaming_add(weights.path, weights.local_path, sha256=weights.sha256, size=weights.size)
            self.remote.upload_objects([op])

        self._uploads[rev.name] = self._ahead.submit(upload)

    def _uploaded(self, rev: RevisionState) -> None:
        """Wait for ``rev``'s upload ahead (if one was started); its errors surface here."""
        future = self._uploads.pop(rev.name, None)
        if future is not None:
            with self.progress.timed("upload"):
                future.result()

    def _preflight(self, staged: list[RevisionState]) -> None:
        """Fail on bad local input before the first remote write (not after creating the repo).

        Every staged checkpoint is safe-loaded (memory-mapped, so cheap): a refused pickle or a truncated
        file stops here. The loaded checkpoints are kept for their conversions, which then do not unpickle
        them again. The first one is converted (it would be next anyway) and its card and main's card
        are rendered (main with placeholder commits): a broken template stops here too.
        """
        from hubkit.runs.safeload import preload

        if not staged:
            return
        # The first conversion (after timm's import) proceeds in the background meanwhile.
        self.converter.submit(staged[0].name, staged[0].item)
        for rev in staged[1:]:  # the first one's conversion, awaited below, checks it
            self.converter.keep(preload(rev.item.checkpoint.path))
        main = next((r for r in self.revs if r.epoch == self.main_epoch), None)
        if main is not None:  # needs no converted weights: rendered while the first conversion runs
            main_readme(
                self, main, [(r.name, r.commit or "0" * 40, r.epoch, r.metrics, "") for r in self.revs]
            )
        self._expected(staged[0], self._content(staged[0]))

    def _ops(self, rev: RevisionState, files: list[LocalFile]) -> list[Any]:
        from huggingface_hub import CommitOperationAdd

        from hubkit.hub.client import streaming_add

        ops: list[Any] = []
        for f in files:
            if f.data is not None:
                ops.append(CommitOperationAdd(path_in_repo=f.path, path_or_fileobj=f.data))
            else:
                assert f.local_path is not None
                # conversion hashed the file while writing it: no second read to hash it again
                ops.append(streaming_add(f.path, f.local_path, sha256=f.sha256, size=f.size))
            if f.sha256 not in rev.known_objects:
                rev.bytes_uploaded += f.size
                rev.known_objects.add(f.sha256)
        return ops

    def _commit(
        self,
        rev: RevisionState,
        branch: str,
        files: list[LocalFile],
        message: str,
        parent: str,
        deletes: tuple[str, ...] | list[str] = (),
    ) -> str:
        from huggingface_hub import CommitOperationDelete

        with self.progress.timed("upload"):
            ops = self._ops(rev, files) + [CommitOperationDelete(path_in_repo=p) for p in deletes]
            return self.remote.commit(branch, ops, message, parent=parent)

    def _verify(self, rev: RevisionState, commit: str, *, staged: bool = True) -> bytes:
        if self._curves is not None:
            # Verification forks DataLoader workers. A fork while another thread is importing (matplotlib,
            # for the curves) leaves that module's import lock held forever in the child: it would hang.
            wait([self._curves])
        with self.progress.timed("verify"):
            result = verify_commit(
                repo_id=self.repo_id,
                commit=commit,
                revision=rev.name,
                endpoint=self.target.endpoint,
                token=self.target.token,
                run=self.run_,
                eval_data=self.options.eval_data,
                device=self.options.device,
            )
        self.progress.advance("verify")
        if not result.passed:
            raise VerificationError(
                f"{self.repo_id}: the staged commit {commit[:7]} for {rev.name} failed verification: "
                + "; ".join(result.failures),
                hint=(
                    f"{rev.name} was not created and main was not changed; the staged commit stays on branch "
                    f"{staging_branch(rev.name)} for inspection (the next run replaces it)"
                    if staged
                    else f"{rev.name} and main were left as they were"
                )
                + ". Check --eval-data / --device, or use --no-verify to skip verification.",
            )
        return result.data

    def _stage_and_promote(self, rev: RevisionState, initial: str) -> None:
        content = self._content(rev)
        rev.verification = None
        self._expected(rev, content)
        staging = staging_branch(rev.name)
        if self.refs is not None and staging in self.refs.branches:  # left by an interrupted run
            rev.known_objects |= {f.sha256 for f in self.remote.files(staging).values() if f.sha256}
            self.remote.delete_branch(staging)
        self.remote.create_branch(staging, initial)
        self._uploaded(rev)
        what = f"epoch {rev.epoch} ({rev.name})"
        commit = self._commit(rev, staging, list(rev.files), f"hubkit: {what}", initial)
        self.progress.advance("upload")
        if self.options.verify:
            rev.verification = self._verify(rev, commit)
            readme = self._readme(rev, content, rev.verification)
            verification = LocalFile.from_bytes(VERIFICATION_JSON, rev.verification)
            commit = self._commit(rev, staging, [verification, readme], f"hubkit: verified {what}", commit)
            self._expected(rev, content)
        if rev.action == "replace":
            self.remote.delete_branch(rev.name)
        self.remote.create_branch(rev.name, commit)
        self.remote.delete_branch(staging)
        rev.commit = commit
        self._remember(rev)

    def _update(self, rev: RevisionState) -> None:
        assert rev.remote_commit is not None and rev.remote_files is not None
        content = self._content(rev, prefer_record=True)
        if self.options.verify and rev.verification is None:
            rev.verification = self._verify(rev, rev.remote_commit, staged=False)
        expected = self._expected(rev, content)
        changed = changed_files(expected, rev.remote_files)
        if any(not f.has_content for f in changed):  # e.g. config.json changed: needs the converted bytes
            content = self._content(rev)
            changed = changed_files(self._expected(rev, content), rev.remote_files)
        deletes = extra_remote(expected, rev.remote_files, None)
        rev.commit = self._commit(
            rev,
            rev.name,
            changed,
            f"hubkit: update epoch {rev.epoch} ({rev.name})",
            rev.remote_commit,
            deletes,
        )
        self.progress.advance("upload")
        self._remember(rev)

    def _cleanup_staging(self) -> None:
        leftovers = set(self.refs.branches if self.refs else {}) & {staging_branch(r.name) for r in self.revs}
        current = self.remote.refs() if leftovers else None
        for branch in sorted(leftovers & set(current.branches if current else ())):
            self.remote.delete_branch(branch)

    def _publish_main(self) -> str | None:
        return publish_main(self)

    def _tag(self, main_commit: str | None) -> None:
        tag = self.options.tag
        if not tag or main_commit is None:
            return
        existing = (self.refs.tags if self.refs else {}).get(tag)
        if existing == main_commit:
            return
        if existing is not None:
            if not self.options.force:
                raise RemoteConflictError(
                    f"tag {tag!r} points at {existing[:7]}, not at main ({main_commit[:7]})",
                    hint="pass a new --tag, or --force to move it",
                )
            self.remote.delete_tag(tag)
        self.remote.create_tag(tag, main_commit)

    # --- report --------------------------------------------------------------------------------------
    def _report(self, *, main_commit: str | None) -> PublishReport:
        status = {
            "unchanged": "unchanged",
            "publish": "published",
            "update": "published",
            "replace": "replaced",
        }
        revisions = tuple(
            RevisionReport(
                revision=r.name,
                epoch=r.epoch,
                commit=r.commit if not self.options.dry_run else r.remote_commit,
                status="planned" if self.options.dry_run and r.action != "unchanged" else status[r.action],  # type: ignore[arg-type]
                bytes_uploaded=0 if self.options.dry_run else r.bytes_uploaded,
                files=tuple(FileReport(f.path, f.size, f.sha256) for f in r.files),
                metrics=r.metrics,
                verified=r.verified if r.verified is not None else passed(r.verification),
                reasons=r.item.reasons,
            )
            for r in self.revs
        )
        main = None
        if self.main_epoch is not None:
            head = (self.refs.branches if self.refs else {}).get("main")
            main = MainReport(commit=main_commit if not self.options.dry_run else head, epoch=self.main_epoch)
        return PublishReport(
            repo_id=self.repo_id,
            endpoint=display_endpoint(self.target.endpoint),
            repo_url=self.remote.repo_url,
            dry_run=self.options.dry_run,
            main=main,
            tag=self.options.tag,
            revisions=revisions,
            commits=self.remote.commits_made,
            main_bytes_uploaded=getattr(self, "main_bytes_uploaded", 0),
            durations=dict(self.progress.durations),
            framework=self.run_.framework,
            repo_existed=self.refs is not None,
        )


@contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    saved = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def _step(item: Any) -> int | None:
    metrics = item.checkpoint.metrics
    step = metrics.get("step") if metrics else None
    return int(step) if step is not None else None
