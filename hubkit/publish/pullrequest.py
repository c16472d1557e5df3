"""``hubkit publish --create-pr``: the whole release as one pull request, for who cannot push to the repo.

A release made directly is one branch per revision, ``main`` and a tag, and only the repo's owners can
make those. Anyone who can see a repo can open a pull request on it, so with ``--create-pr`` every write
goes to one pull request against ``main``, as a line of commits:

- per revision, a commit whose files are exactly what its branch would hold (verified like a staged
  revision, then a second commit with ``verification.json`` and the verified card);
- last, main's content (weights of the main checkpoint, the run card, the curves), with main's own
  files (those hubkit does not manage) kept.

Nothing else changes: ``main``, the branches and the tag stay as they are. A comment on the pull request
carries the :class:`~hubkit.layout.ReleaseManifest` (which commit is which revision). An owner then runs
``hubkit pr merge ORG/NAME N`` (:mod:`hubkit.publish.prmerge`): it merges the pull request, which moves
``main``, then points each revision's branch at its commit and makes the tag.

A re-run continues the open pull request of the same user with the same title instead of opening
another one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from hubkit.layout import RELEASE_MARKER, ManifestRevision, ReleaseManifest
from hubkit.publish.executor import Executor, Outcome, RevisionOutcome
from hubkit.publish.files import RemoteFile, changed_files
from hubkit.publish.mainrev import MainTarget, publish_main
from hubkit.publish.report import PullRequestReport
from hubkit.publish.verification import passed

if TYPE_CHECKING:
    from hubkit.publish.endpoint import Target
    from hubkit.publish.plan import PublishPlan, RevisionPlan
    from hubkit.publish.planner import Planner


def pr_title(plan: PublishPlan) -> str:
    """The pull request's title: the same for the same release, so that a re-run finds it.

    Example:
        >>> pr_title(plan)  # doctest: +SKIP
        'hubkit release: timm-digits, 6 revisions, main = epoch 9'
    """
    main = f", main = epoch {plan.main_epoch}" if plan.main_epoch is not None else ""
    return f"hubkit release: {plan.run.name}, {len(plan.revisions)} revisions{main}"


def pr_description(plan: PublishPlan, tag: str | None) -> str:
    """The pull request's first message: what it holds and how it is merged."""
    lines = [
        f"The release of the `{plan.run.framework}` run `{plan.run.name}` ({plan.run.architecture}), "
        "made by `hubkit publish --create-pr`.",
        "",
        "Each revision below is one or two commits of this pull request, verified before its final commit; "
        "the last commit is `main`'s content.",
        "",
        *(f"- `{r.name}`: epoch {r.epoch} ({'; '.join(r.item.reasons)})" for r in plan.revisions),
        "",
        "Merge it with `hubkit pr merge` (the command is in the release comment below): that merges this "
        "pull request (`main` moves), then creates each revision's branch at its commit here"
        + (f" and the tag `{tag}`" if tag else "")
        + ". A merge from this page moves `main` only; `hubkit pr merge` run afterwards adds the rest.",
    ]
    return "\n".join(lines)


def manifest_comment(manifest: ReleaseManifest, repo_id: str, num: int) -> str:
    """The comment that carries ``manifest``: a table for reviewers and the JSON ``hubkit pr merge`` reads."""
    rows = [f"| `{r.name}` | {r.epoch} | `{r.commit[:10]}` |" for r in manifest.revisions]
    return "\n".join(
        [
            RELEASE_MARKER,
            f"**Release ready for review.** Merge with `hubkit pr merge {repo_id} {num}`.",
            "",
            "| branch | epoch | commit |",
            "|---|---|---|",
            *rows,
            "",
            f"`main` gets commit `{manifest.head[:10]}`"
            + (f"; the tag `{manifest.tag}` is made at the merge." if manifest.tag else "."),
            "",
            "```json",
            manifest.to_json(),
            "```",
        ]
    )


class PullRequestExecutor(Executor):
    """Carries out a plan as one pull request (see the module's doc)."""

    def __init__(self, plan: PublishPlan, planner: Planner, target: Target) -> None:
        super().__init__(plan, planner, target)
        assert plan.refs is not None, "a pull request needs the repo: checked before the executor runs"
        self._main_head = plan.refs.branches.get("main")
        self._num: int | None = None
        self._head: str | None = None  # the pull request's last commit
        self._initial: Mapping[str, RemoteFile] = {}
        self._proposed: dict[str, ManifestRevision] = {}

    # --- the pull request ----------------------------------------------------------------------------
    @property
    def _ref(self) -> str:
        assert self._num is not None
        return f"refs/pr/{self._num}"

    def _open(self, *, at_main: bool = False) -> str:
        """The pull request's ref: the open one of this user with this release's title, or a new one.

        ``at_main``: the caller commits onto main's head, so only a pull request still at main's head is
        continued.
        """
        if self._num is not None:
            return self._ref
        title = pr_title(self.plan)
        reuse = [num for num, t in self.remote.open_pull_requests(self.remote.user()) if t == title]
        if at_main:
            reuse = [num for num in reuse if self.remote.pull_request_head(num) == self._main_head]
        if reuse:
            self._num = reuse[0]
        else:
            self._num = self.remote.open_pull_request(title, pr_description(self.plan, self.options.tag))
        self._head = self.remote.pull_request_head(self._num)
        self._uploads.revision = self._ref
        return self._ref

    def _begin(self, initial: str | None) -> None:
        if self.plan.todo:  # uploads ahead go to the pull request's ref: open it before they start
            self._open()
            self._initial = self.remote.files(initial or self.remote.initial_commit())

    def _kept(self, rev: RevisionPlan, staged: bool) -> str:
        return (
            f"the unverified commit stays in pull request #{self._num}; main, the branches and the tag are "
            "unchanged. Close the pull request, or fix the cause and re-run (it continues the same one)"
        )

    # --- revisions: commits of the pull request ------------------------------------------------------
    def _stage_and_promote(self, rev: RevisionPlan, initial: str) -> RevisionOutcome:
        return self._propose(rev)

    def _update(self, rev: RevisionPlan) -> RevisionOutcome:
        return self._propose(rev)

    def _propose(self, rev: RevisionPlan) -> RevisionOutcome:
        """One revision as the pull request's next commit(s): its tree is what its branch would hold."""
        ref, head = self._open(), self._head
        assert head is not None
        content = self._content(rev)
        verification = rev.verification if rev.action == "update" else None
        files = self._expected(rev, content, verification)
        self._uploads.wait(rev)
        at_head = self.remote.files(head)
        known = set(rev.known_objects) | {f.sha256 for f in at_head.values() if f.sha256}
        keep = {f.path for f in files} | set(self._initial)
        deletes = sorted(p for p in at_head if p not in keep)
        changed = changed_files(files, at_head)
        out = self._commit_verified(rev, content, known, ref, head, files, changed, deletes, verification)
        self._head = out.commit
        self._proposed[rev.name] = ManifestRevision(rev.name, rev.epoch, out.commit, rev.remote_commit)
        return RevisionOutcome(
            commit=out.commit,
            files=out.files,
            verified=passed(out.verification),
            bytes_uploaded=out.sent,
            bytes_deduplicated=out.deduplicated,
        )

    # --- main, the tag and the manifest --------------------------------------------------------------
    def _cleanup_staging(self) -> None:
        """No staging branches: a contributor cannot make branches."""

    def _main(self, done: dict[str, RevisionOutcome]) -> tuple[str | None, int]:
        inputs = self._main_inputs(done)
        if inputs is None:
            return self._main_head, 0
        main_files = self.remote.files(self._main_head) if self._main_head else {}
        if self._num is None:  # nothing proposed yet: a pull request only if main's content changes
            target = MainTarget(
                ref=lambda: self._open(at_main=True),
                head=self._main_head,
                at_head=main_files,
                main_head=self._main_head,
                main_files=main_files,
            )
        else:
            assert self._head is not None
            target = MainTarget(
                ref=self._ref,
                head=self._head,
                at_head=self.remote.files(self._head),
                main_head=self._main_head,
                main_files=main_files,
            )
        commit, sent = publish_main(inputs, self.planner.files, self.remote, self.progress, target)
        if self._num is not None and commit is not None:
            self._head = commit
        return self._main_head, sent  # main itself moves only at the merge

    def _tag(self, main_commit: str | None) -> None:
        """The tag is made at the merge (it is in the manifest)."""

    def _finish(self, done: dict[str, RevisionOutcome]) -> None:
        if self._num is None:
            return  # everything was in place already: no pull request was needed
        assert self._head is not None and self.plan.refs is not None
        tag = self.options.tag
        manifest = ReleaseManifest(
            head=self._head,
            main_epoch=self.plan.main_epoch,
            revisions=tuple(self._proposed[name] for name in sorted(self._proposed, key=self._epoch_of)),
            tag=tag,
            tag_replaces=self.plan.refs.tags.get(tag) if tag else None,
        )
        self.remote.comment(self._num, manifest_comment(manifest, self.plan.repo_id, self._num))

    def _epoch_of(self, name: str) -> int:
        return self._proposed[name].epoch

    def _outcome(self, done: dict[str, RevisionOutcome], main_commit: str | None, main_bytes: int) -> Outcome:
        pull_request = None
        if self._num is not None and self._head is not None:
            url = f"{self.remote.repo_url}/discussions/{self._num}"
            pull_request = PullRequestReport(num=self._num, url=url, head=self._head)
        return Outcome(
            revisions=done, main_commit=main_commit, main_bytes_uploaded=main_bytes, pull_request=pull_request
        )
