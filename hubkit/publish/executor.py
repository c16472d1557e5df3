"""Carry out a :class:`~hubkit.publish.plan.PublishPlan`: stage, verify and promote each revision.

Per new revision: one commit on a staging branch made from the repo's initial commit (weights, config,
hubkit.json, README), verification of that commit, one more commit adding ``verification.json`` and the
verified card; then the final branch is created at that commit and the staging branch deleted. ``main``
and the tag follow once every revision is in place (:mod:`hubkit.publish.mainrev`).

Three stages overlap: converting revision i+2, uploading the weights of i+1 (objects no commit refers to
yet, so nothing is visible; :mod:`hubkit.publish.uploads`) and committing i. At most three converted
revisions are on disk at once.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hubkit.errors import RemoteConflictError, VerificationError
from hubkit.layout import VERIFICATION_JSON
from hubkit.publish.content import Content
from hubkit.publish.curves import render_curves
from hubkit.publish.dynamics import prepare as prepare_dynamics
from hubkit.publish.files import LocalFile, changed_files
from hubkit.publish.mainrev import MainInputs, MainRevision, curve_data, preview_rows, publish_main
from hubkit.publish.naming import staging_branch
from hubkit.publish.plan import PublishPlan, RevisionPlan, extra_remote
from hubkit.publish.planner import Planner, remember
from hubkit.publish.report import PullRequestReport
from hubkit.publish.uploads import Uploads
from hubkit.publish.verification import passed, verify_commit

if TYPE_CHECKING:
    from hubkit.dynamics.model import DynamicsReport
    from hubkit.publish.endpoint import Target


@dataclass(frozen=True)
class RevisionOutcome:
    """What publishing one revision did."""

    commit: str  # the branch's final commit
    files: tuple[LocalFile, ...]  # its files
    verified: bool | None  # what its verification.json says; None without one
    bytes_uploaded: int  # bytes sent for it (objects the Hub did not hold yet)
    bytes_deduplicated: int = 0  # of those, bytes Xet found already stored as chunks (not sent)


@dataclass(frozen=True)
class Outcome:
    """What carrying out a plan did."""

    revisions: dict[str, RevisionOutcome]  # by revision name, for the revisions that had something to do
    main_commit: str | None  # main's commit (None: no main)
    main_bytes_uploaded: int  # bytes of main's own new files (card, curves)
    pull_request: PullRequestReport | None = None  # with --create-pr: the pull request holding all of it


@dataclass(frozen=True)
class Verified:
    """A revision committed (and verified, with verification on): see :meth:`Executor._commit_verified`."""

    commit: str  # its last commit
    files: tuple[LocalFile, ...]  # its files, verification.json and the verified card included
    verification: bytes | None  # its verification.json; None when not verified
    sent: int  # bytes of objects the Hub did not hold
    deduplicated: int  # of those, what Xet found already stored as chunks


class Executor:
    """Carries out one plan through the planner's remote, converter and card files."""

    def __init__(self, plan: PublishPlan, planner: Planner, target: Target) -> None:
        self.plan = plan
        self.planner = planner
        self.options = planner.options
        self.remote = planner.remote
        self.progress = planner.progress
        self.target = target
        self._converted: dict[str, Content] = {}
        self._uploads = Uploads(planner.remote, planner.converter, planner.progress)
        self._curves: Future[bytes] | None = None
        self._dynamics: Future[DynamicsReport | None] | None = None

    def run(self) -> Outcome:
        """Publish every revision of the plan, then main and the tag."""
        plan, converter = self.plan, self.planner.converter
        todo = plan.todo
        self.progress.start(
            {
                "convert": len(plan.staged),
                "upload": len(todo),
                "verify": len(todo) if self.options.verify else 0,
            }
        )
        ahead = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hubkit-upload")
        drawing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hubkit-curves")
        analysing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hubkit-dynamics")
        done: dict[str, RevisionOutcome] = {}
        try:
            # The revisions' dynamics (hubkit.json from the second revision on, main's card): analysed from
            # the start, beside the first revision, each revision's pair with the one before it first (its
            # hubkit.json waits for that pair only), then the whole for main. Its imports happen here first:
            # an import in that thread while verification forks DataLoader workers would leave the forked
            # worker hung. The main thread (cards) and the dynamics thread import the model library too:
            # not while the conversion thread's warm-up is importing it.
            self.planner.converter.library_imported()
            prepare_dynamics()
            self._dynamics = analysing.submit(self.planner.files.dynamics)
            self._preflight()
            if plan.main_epoch is not None:  # main's picture depends only on the plan: draw it meanwhile
                data = curve_data(plan.run, tuple(r.epoch for r in plan.revisions), plan.main_epoch)
                self._curves = drawing.submit(render_curves, data)
            if plan.refs is None:
                self.remote.ensure_repo(private=self.options.private)
            initial = self.remote.initial_commit() if plan.staged else None
            self._begin(initial)
            for index, rev in enumerate(todo):
                for later in todo[index + 1 : index + 3]:
                    if later.action in ("publish", "replace"):
                        converter.submit(later.name, later.item)
                for later in todo[index : index + 2]:
                    self._uploads.ahead(ahead, later)
                if rev.action == "update":
                    done[rev.name] = self._update(rev)
                else:
                    assert initial is not None
                    done[rev.name] = self._stage_and_promote(rev, initial)
                converter.discard(rev.name)
            self._cleanup_staging()
            main_commit, main_bytes = self._main(done)
            self._tag(main_commit)
            self._finish(done)
        finally:
            # On failure: uploads not started are dropped, a running one ends (its object stays unused).
            ahead.shutdown(wait=True, cancel_futures=True)
            drawing.shutdown(wait=True, cancel_futures=True)
            analysing.shutdown(wait=True, cancel_futures=True)
            self.progress.stop()
        return self._outcome(done, main_commit, main_bytes)

    def _begin(self, initial: str | None) -> None:
        """Before the first revision (``initial``: the repo's first commit, when revisions are staged):
        nothing when publishing directly (a pull request is opened)."""

    def _outcome(self, done: dict[str, RevisionOutcome], main_commit: str | None, main_bytes: int) -> Outcome:
        return Outcome(revisions=done, main_commit=main_commit, main_bytes_uploaded=main_bytes)

    def _finish(self, done: dict[str, RevisionOutcome]) -> None:
        """After main and the tag: nothing more when publishing directly (a pull request posts its manifest)."""

    # --- files ---------------------------------------------------------------------------------------
    def _content(self, rev: RevisionPlan, *, prefer_record: bool = False) -> Content:
        if rev.name in self._converted:
            return self._converted[rev.name]
        content = self.planner.content(rev, prefer_record=prefer_record)
        if content.converted:
            self._converted[rev.name] = content
        return content

    def _expected(
        self, rev: RevisionPlan, content: Content, verification: bytes | None
    ) -> tuple[LocalFile, ...]:
        return self.planner.files.expected(rev.name, rev.item, rev.metrics, content, verification)

    def _preflight(self) -> None:
        """Fail on bad local input before the first remote write (not after creating the repo).

        Every staged checkpoint is safe-loaded (memory-mapped, so cheap): a refused pickle or a truncated
        file stops here. The loaded checkpoints are kept for their conversions, which then do not unpickle
        them again. The first one is converted (it would be next anyway) and its card and main's card
        are rendered (main with placeholder commits): a broken template stops here too.
        """
        from hubkit.runs.safeload import preload

        staged, converter, files = self.plan.staged, self.planner.converter, self.planner.files
        if not staged:
            return
        # The first conversion (after timm's import) proceeds in the background meanwhile.
        converter.submit(staged[0].name, staged[0].item)
        for rev in staged[1:]:  # the first one's conversion, awaited below, checks it
            path = rev.item.checkpoint.path
            # shared with the dynamics analysis when it runs (it may have loaded it already)
            converter.keep(files.preloads.get(path) if files.revisions else preload(path))
        main = next((r for r in self.plan.revisions if r.epoch == self.plan.main_epoch), None)
        if main is not None:  # needs no converted weights: rendered while the first conversion runs
            self.planner.files.main_readme(main.item, main.metrics, preview_rows(self.plan))
        self._expected(staged[0], self._content(staged[0]), None)

    def _verify(self, rev: RevisionPlan, commit: str, *, staged: bool = True) -> bytes:
        if self._curves is not None:
            # Verification forks DataLoader workers. A fork while another thread is importing (matplotlib,
            # for the curves) leaves that module's import lock held forever in the child: it would hang.
            wait([self._curves])
        if self._dynamics is not None and not self._dynamics.done():
            # the analysis builds its model first (imports), then only computes
            self.planner.files.dynamics_imported.wait(timeout=300)
        with self.progress.timed("verify"):
            result = verify_commit(
                repo_id=self.plan.repo_id,
                commit=commit,
                revision=rev.name,
                endpoint=self.target.endpoint,
                token=self.target.token,
                run=self.plan.run,
                eval_data=self.options.eval_data,
                device=self.options.device,
            )
        self.progress.advance("verify")
        if not result.passed:
            kept = self._kept(rev, staged)
            raise VerificationError(
                f"{self.plan.repo_id}: the staged commit {commit[:7]} for {rev.name} failed verification: "
                + "; ".join(result.failures),
                hint=kept + ". Check --eval-data / --device, or use --no-verify to skip verification.",
            )
        return result.data

    def _kept(self, rev: RevisionPlan, staged: bool) -> str:
        """What a failed verification left behind, for its error message."""
        if staged:
            return (
                f"{rev.name} was not created and main was not changed; the staged commit stays on branch "
                f"{staging_branch(rev.name)} for inspection (the next run replaces it)"
            )
        return f"{rev.name} and main were left as they were"

    # --- one revision --------------------------------------------------------------------------------
    def _stage_and_promote(self, rev: RevisionPlan, initial: str) -> RevisionOutcome:
        content = self._content(rev)
        files = self._expected(rev, content, None)
        known = set(rev.known_objects)
        staging = staging_branch(rev.name)
        if self.plan.refs is not None and staging in self.plan.refs.branches:  # left by an interrupted run
            known |= {f.sha256 for f in self.remote.files(staging).values() if f.sha256}
            self.remote.delete_branch(staging)
        self.remote.create_branch(staging, initial)
        self._uploads.wait(rev)
        out = self._commit_verified(rev, content, known, staging, initial, files, files)
        commit, files, verification = out.commit, out.files, out.verification
        if rev.action == "replace":
            self.remote.delete_branch(rev.name)
        self.remote.create_branch(rev.name, commit)
        self.remote.delete_branch(staging)
        verified = passed(verification)
        remember(rev.key, files, verified)
        return RevisionOutcome(
            commit=commit,
            files=files,
            verified=verified,
            bytes_uploaded=out.sent,
            bytes_deduplicated=out.deduplicated,
        )

    def _commit_verified(
        self,
        rev: RevisionPlan,
        content: Content,
        known: set[str],
        ref: str,
        parent: str,
        files: tuple[LocalFile, ...],
        changed: list[LocalFile] | tuple[LocalFile, ...],
        deletes: list[str] | tuple[str, ...] = (),
        verification: bytes | None = None,
    ) -> Verified:
        """Commit a revision's ``changed`` files (and ``deletes``) onto ``ref``; without a ``verification``
        and with verification on, verify that commit, then commit ``verification.json`` and the verified
        card after it."""
        what = f"epoch {rev.epoch} ({rev.name})"
        commit, sent, dedup = self._uploads.commit(known, ref, changed, f"hubkit: {what}", parent, deletes)
        self.progress.advance("upload")
        if self.options.verify and verification is None:
            verification = self._verify(rev, commit)
            files = self._expected(rev, content, verification)
            added = [LocalFile.from_bytes(VERIFICATION_JSON, verification), files[-1]]  # + the verified card
            commit, more, more_dedup = self._uploads.commit(
                known, ref, added, f"hubkit: verified {what}", commit
            )
            sent, dedup = sent + more, dedup + more_dedup
        return Verified(commit, files, verification, sent, dedup)

    def _update(self, rev: RevisionPlan) -> RevisionOutcome:
        assert rev.remote_commit is not None and rev.remote_files is not None
        content = self._content(rev, prefer_record=True)
        verification = rev.verification
        if self.options.verify and verification is None:
            verification = self._verify(rev, rev.remote_commit, staged=False)
        expected = self._expected(rev, content, verification)
        changed = changed_files(expected, rev.remote_files)
        if any(not f.has_content for f in changed):  # e.g. config.json changed: needs the converted bytes
            content = self._content(rev)
            expected = self._expected(rev, content, verification)
            changed = changed_files(expected, rev.remote_files)
        deletes = extra_remote(expected, rev.remote_files, None)
        message = f"hubkit: update epoch {rev.epoch} ({rev.name})"
        commit, sent, dedup = self._uploads.commit(
            set(rev.known_objects), rev.name, changed, message, rev.remote_commit, deletes
        )
        self.progress.advance("upload")
        verified = passed(verification)
        remember(rev.key, expected, verified)
        return RevisionOutcome(
            commit=commit, files=expected, verified=verified, bytes_uploaded=sent, bytes_deduplicated=dedup
        )

    # --- after the revisions -------------------------------------------------------------------------
    def _cleanup_staging(self) -> None:
        refs = self.plan.refs
        leftovers = set(refs.branches if refs else {}) & {staging_branch(r.name) for r in self.plan.revisions}
        current = self.remote.refs() if leftovers else None
        for branch in sorted(leftovers & set(current.branches if current else ())):
            self.remote.delete_branch(branch)

    def _main(self, done: dict[str, RevisionOutcome]) -> tuple[str | None, int]:
        inputs = self._main_inputs(done)
        if inputs is None:
            return None, 0
        return publish_main(inputs, self.planner.files, self.remote, self.progress)

    def _main_inputs(self, done: dict[str, RevisionOutcome]) -> MainInputs | None:
        if self.plan.main_epoch is None:
            return None
        revisions = []
        for rev in self.plan.revisions:
            out = done.get(rev.name)
            content = self._converted.get(rev.name) or rev.content
            revisions.append(
                MainRevision(
                    name=rev.name,
                    epoch=rev.epoch,
                    item=rev.item,
                    metrics=rev.metrics,
                    key=rev.key,
                    commit=out.commit if out else (rev.commit or ""),
                    files=out.files if out else rev.files,
                    weights=content.record.weights if content is not None else None,
                )
            )
        assert self._curves is not None, "main's curves are drawn whenever there is a main"
        return MainInputs(
            repo_id=self.plan.repo_id,
            run=self.plan.run,
            main_epoch=self.plan.main_epoch,
            revisions=tuple(revisions),
            curves=self._curves.result,
            dynamics=self._dynamics.result if self._dynamics is not None else lambda: None,
        )

    def _tag(self, main_commit: str | None) -> None:
        tag = self.options.tag
        if not tag or main_commit is None:
            return
        existing = (self.plan.refs.tags if self.plan.refs else {}).get(tag)
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
