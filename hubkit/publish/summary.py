"""The text ``hubkit publish`` prints for people: the plan (``--dry-run``) or what happened and how to load it."""

from __future__ import annotations

from urllib.parse import urlsplit

from hubkit import frameworks
from hubkit.publish.files import human_size
from hubkit.publish.report import PublishReport, RevisionReport

_VERB = {
    "published": "published",
    "unchanged": "unchanged",
    "replaced": "replaced",
    "proposed": "proposed",
    "planned": "would publish",
}


def epochs_phrase(framework: str, epoch: int) -> str:
    """How far training was at a checkpoint, worded as the cards word it (epochs completed, then timm's own
    number, which starts at 0 and names checkpoint files and default branches).

    Example:
        >>> epochs_phrase("timm", 3), epochs_phrase("open_clip", 3)
        ('after 4 epochs (timm epoch 3)', 'after 3 epochs')
    """
    return frameworks.get(framework).epochs_phrase(epoch)


def _revision_line(rev: RevisionReport, framework: str) -> str:
    size = sum(f.size for f in rev.files)
    verified = {True: ", verified", False: ", verification FAILED", None: ""}[rev.verified]
    commit = f" {rev.commit[:7]}" if rev.commit else ""
    head = (
        f"  {rev.revision:<16}{commit:<8} {epochs_phrase(framework, rev.epoch):<30} {_VERB[rev.status]:<13}"
    )
    dedup = f", {human_size(rev.bytes_deduplicated)} deduplicated" if rev.bytes_deduplicated else ""
    detail = (
        f"{len(rev.files)} files, {human_size(size)}{dedup}{verified}"
        if rev.files
        else "files known after conversion"
    )
    return f"{head} {detail}"


def render(report: PublishReport, *, embedded: bool) -> str:
    """The human summary of a publish or a dry run.

    Example:
        >>> print(render(report, embedded=True))  # doctest: +SKIP
    """
    lines: list[str] = []
    if report.dry_run:
        lines.append(f"Plan for {report.repo_id} on {report.endpoint} (dry run: nothing was written)")
        if not report.repo_existed:
            lines.append(f"  the repo {report.repo_id} does not exist yet; it would be created")
    elif report.pull_request is not None:
        pr = report.pull_request
        lines.append(f"Proposed to {report.repo_url} as pull request #{pr.num}: {pr.url}")
        lines.append(
            "  nothing else changed: main, the branches and the tag move when an owner merges it with"
        )
        lines.append(f"  hubkit pr merge {report.repo_id} {pr.num}")
    else:
        lines.append(f"Published to {report.repo_url}")
    for rev in report.revisions:
        lines.append(_revision_line(rev, report.framework))
        if report.dry_run:
            lines.append(f"      why: {'; '.join(rev.reasons)}" + (f"  [{rev.note}]" if rev.note else ""))
            for f in rev.files:
                lines.append(f"      {f.path:<32} {human_size(f.size):>10}  sha256 {f.sha256[:12]}")
    if report.main is not None and report.pull_request is not None:
        lines.append(
            f"  main will hold the checkpoint {epochs_phrase(report.framework, report.main.epoch)} "
            f"(commit {report.pull_request.head[:7]} of the pull request)"
            + (f", tagged {report.tag}" if report.tag else "")
        )
    elif report.main is not None:
        where = f" ({report.main.commit[:7]})" if report.main.commit else ""
        lines.append(
            f"  main{where} holds the checkpoint {epochs_phrase(report.framework, report.main.epoch)}"
            + (f", tagged {report.tag}" if report.tag else "")
        )
    lines.extend(f"  warning: {w}" for w in report.warnings)
    if report.dry_run:
        return "\n".join(lines)
    sent = f"{report.commits} commit(s), {human_size(report.uploaded_bytes)} uploaded"
    if report.deduplicated_bytes:
        sent += (
            f" ({human_size(report.deduplicated_bytes)} of it already on the Hub as chunks: Xet sent "
            f"{human_size(report.uploaded_bytes - report.deduplicated_bytes)})"
        )
    lines.append(sent)
    lines.append("")
    if report.pull_request is not None:
        pr_ref = f"refs/pr/{report.pull_request.num}"
        lines.append(f"Review it: hubkit verify {report.repo_id} --revision {pr_ref}")
        return "\n".join(lines)
    lines.append("Load a revision:")
    prefix = f"HF_ENDPOINT={report.endpoint} " if embedded or "huggingface.co" not in report.endpoint else ""
    framework = frameworks.get(report.framework)
    shown = [r.revision for r in report.revisions[:1]] + (["main"] if report.main is not None else [])
    for revision in shown:
        line = framework.load_line(report.repo_id, revision)
        lines.append(f"  {prefix}python -c '{framework.load_imports}; {line}'")
    if embedded:
        lines.append("")
        lines.append(f"This was hubkit's local hub at {report.endpoint}; it stopped with this command.")
        port = urlsplit(report.endpoint).port
        lines.append(f"Browse and load again after starting it with: hubkit hub serve --port {port}")
        lines.append(
            f"then open {report.endpoint}/{report.repo_id} in a browser (model card, revisions, files)."
        )
    return "\n".join(lines)
