"""``hubkit publish``: key checkpoints of a run become Hub branches, the final (or best) one becomes ``main``.

A publish is a plan, then its execution, so that nothing half-made is ever visible and a re-run completes
what is missing:

1. check every option (:func:`hubkit.publish.options.validate`), read the run, select checkpoints, name
   branches: bad input fails here, before any remote call;
2. plan against the remote repo with read-only calls (:class:`~hubkit.publish.planner.Planner`): the
   result is an immutable :class:`~hubkit.publish.plan.PublishPlan`, which ``--dry-run`` prints; conflicts
   stop everything before any write;
3. carry it out (:class:`~hubkit.publish.executor.Executor`): stage, verify and promote each revision,
   then ``main`` and ``--tag``.

A re-run of a finished publish is answered from the Hub's refs alone (:mod:`hubkit.publish.quick`).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path

from hubkit.errors import InputError
from hubkit.publish import quick
from hubkit.publish.content import Converter
from hubkit.publish.endpoint import Target, display_endpoint
from hubkit.publish.executor import Executor, Outcome
from hubkit.publish.frozen import frozen_warnings
from hubkit.publish.naming import default_repo_id, validate_repo_id
from hubkit.publish.options import PublishOptions, validate
from hubkit.publish.plan import PublishPlan, select
from hubkit.publish.planner import Planner, revision_stubs
from hubkit.publish.progress import Progress
from hubkit.publish.pullrequest import PullRequestExecutor
from hubkit.publish.remote import Remote
from hubkit.publish.report import FileReport, MainReport, PublishReport, RevisionReport, RevisionStatus
from hubkit.publish.revfiles import ReleaseFiles
from hubkit.publish.verification import passed

__all__ = ["PublishOptions", "publish"]

_STATUS: dict[str, RevisionStatus] = {
    "unchanged": "unchanged",
    "publish": "published",
    "update": "published",
    "replace": "replaced",
}


def publish(
    run_dir: str | Path, options: PublishOptions, target: Target, progress: Progress | None = None
) -> PublishReport:
    """Publish ``run_dir`` to ``target`` and report what happened.

    Args:
        run_dir: a training output folder of a known framework (see ``docs/frameworks.md``).
        options: see :class:`~hubkit.publish.options.PublishOptions`.
        target: where to publish (:func:`hubkit.publish.endpoint.open_target`).
        progress: stage timings and bars (a silent one by default).

    Returns:
        The :class:`~hubkit.publish.report.PublishReport` (also printed by ``--json``).

    Raises:
        InputError: a bad option (before any remote call).
        RepoIdError: invalid repo id, tag or branch names (before any remote call).
        RemoteConflictError: a remote revision holds other weights (without ``--force``).
        VerificationError: a staged revision failed verification (its final branch is not created).

    Example:
        >>> with open_target(None, None) as target:  # doctest: +SKIP
        ...     report = publish("runs/timm-digits", PublishOptions(), target)
    """
    from hubkit.hub.client import hub_api
    from hubkit.runs import read_run

    progress = progress or Progress()
    options = validate(options)
    run_dir = Path(run_dir)
    started = time.perf_counter()
    key = quick.run_key(run_dir, options)
    repo = quick.recorded_repo(key)
    if repo is not None and options.repo_id in (None, repo):
        remote = Remote(hub_api(target.endpoint, target.token), repo, read_only=True)
        report = quick.unchanged(key, remote, options.dry_run, started)
        if report is not None:
            return report
    with progress.timed("total"):
        with progress.timed("read"):
            run = read_run(run_dir, model_config=options.model_config)
            items, main_epoch = select(run, options.select, options.main)
            frozen = frozen_warnings(run, [i.epoch for i in items], options.frozen_check, options.weights)
            repo_id = validate_repo_id(options.repo_id or default_repo_id(run.name))
            stubs = revision_stubs(run, items, repo_id, options)
        remote = Remote(hub_api(target.endpoint, target.token), repo_id, read_only=options.dry_run)
        files = ReleaseFiles(
            run,
            repo_id,
            template_dir=options.template_dir,
            license=options.license,
            reference=options.reference,
            has_main=main_epoch is not None,
            dry_run=options.dry_run,
            revisions=[(stub.name, stub.epoch) for stub in stubs] if options.dynamics else (),
            weights=options.weights,
        )
        with (
            tempfile.TemporaryDirectory(prefix="hubkit-publish-") as work,
            Converter(run, options.weights, Path(work), remember=not options.dry_run) as converter,
        ):
            planner = Planner(options, remote, converter, files, progress)
            with progress.timed("plan"):
                plan = planner.plan(stubs, main_epoch)
            if options.create_pr and plan.refs is None:
                raise InputError(
                    f"--create-pr: {repo_id} does not exist on {display_endpoint(target.endpoint)}; a pull "
                    "request needs an existing repo",
                    hint="ask one of its owners to create it (or publish without --create-pr to a "
                    "namespace you can write to)",
                )
            if options.dry_run:
                return replace(report_of(plan, options, remote, progress, outcome=None), warnings=frozen)
            if plan.staged:
                converter.warm_up()
                converter.prefetch([r.item for r in plan.staged])
            executor = PullRequestExecutor if options.create_pr else Executor
            outcome = executor(plan, planner, target).run()
    report = replace(report_of(plan, options, remote, progress, outcome=outcome), warnings=frozen)
    if outcome.pull_request is None:  # a proposed release is not in place: a re-run must look again
        quick.remember(key, report)
    return report


def report_of(
    plan: PublishPlan, options: PublishOptions, remote: Remote, progress: Progress, *, outcome: Outcome | None
) -> PublishReport:
    """The report of ``plan``: as planned (``outcome`` None, a dry run) or as carried out."""
    revisions = []
    proposed = outcome is not None and outcome.pull_request is not None
    for r in plan.revisions:
        done = outcome.revisions.get(r.name) if outcome else None
        files = done.files if done else r.files
        verified = done.verified if done else r.verified
        revisions.append(
            RevisionReport(
                revision=r.name,
                epoch=r.epoch,
                commit=done.commit if done else (r.commit if outcome else r.remote_commit),
                status=_status(r.action, outcome is None, proposed and done is not None),
                bytes_uploaded=done.bytes_uploaded if done else 0,
                files=tuple(FileReport(f.path, f.size, f.sha256) for f in files),
                metrics=dict(r.metrics),
                verified=verified if verified is not None else passed(r.verification),
                reasons=r.item.reasons,
                bytes_deduplicated=done.bytes_deduplicated if done else 0,
            )
        )
    main = None
    if plan.main_epoch is not None:
        head = (plan.refs.branches if plan.refs else {}).get("main")
        main = MainReport(commit=outcome.main_commit if outcome else head, epoch=plan.main_epoch)
    return PublishReport(
        repo_id=plan.repo_id,
        endpoint=display_endpoint(remote.endpoint),
        repo_url=remote.repo_url,
        dry_run=options.dry_run,
        main=main,
        tag=options.tag,
        revisions=tuple(revisions),
        commits=remote.commits_made,
        main_bytes_uploaded=outcome.main_bytes_uploaded if outcome else 0,
        durations=dict(progress.durations),
        framework=plan.run.framework,
        repo_existed=plan.refs is not None,
        pull_request=outcome.pull_request if outcome else None,
    )


def _status(action: str, planned: bool, proposed: bool) -> RevisionStatus:
    if planned and action != "unchanged":
        return "planned"
    return "proposed" if proposed else _STATUS[action]
