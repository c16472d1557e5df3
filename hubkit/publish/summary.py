"""The text ``hubkit publish`` prints for people: the plan (``--dry-run``) or what happened and how to load it."""

from __future__ import annotations

from urllib.parse import urlsplit

from hubkit.publish.naming import load_line
from hubkit.publish.report import PublishReport, RevisionReport

_VERB = {
    "published": "published",
    "unchanged": "unchanged",
    "replaced": "replaced",
    "planned": "would publish",
}


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _revision_line(rev: RevisionReport) -> str:
    size = sum(f.size for f in rev.files)
    verified = {True: ", verified", False: ", verification FAILED", None: ""}[rev.verified]
    commit = f" {rev.commit[:7]}" if rev.commit else ""
    head = f"  {rev.revision:<16}{commit:<8} epoch {rev.epoch:<4} {_VERB[rev.status]:<13}"
    detail = (
        f"{len(rev.files)} files, {_size(size)}{verified}" if rev.files else "files known after conversion"
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
    else:
        lines.append(f"Published to {report.repo_url}")
    for rev in report.revisions:
        lines.append(_revision_line(rev))
        if report.dry_run:
            lines.append(f"      why: {'; '.join(rev.reasons)}" + (f"  [{rev.note}]" if rev.note else ""))
            for f in rev.files:
                lines.append(f"      {f.path:<32} {_size(f.size):>10}  sha256 {f.sha256[:12]}")
    if report.main is not None:
        where = f" ({report.main.commit[:7]})" if report.main.commit else ""
        lines.append(
            f"  main{where} holds epoch {report.main.epoch}"
            + (f", tagged {report.tag}" if report.tag else "")
        )
    if report.dry_run:
        return "\n".join(lines)
    lines.append(f"{report.commits} commit(s), {_size(report.uploaded_bytes)} uploaded")
    lines.append("")
    lines.append("Load a revision:")
    prefix = f"HF_ENDPOINT={report.endpoint} " if embedded or "huggingface.co" not in report.endpoint else ""
    imports = "import open_clip, huggingface_hub" if report.framework == "open_clip" else "import timm"
    shown = [r.revision for r in report.revisions[:1]] + (["main"] if report.main is not None else [])
    for revision in shown:
        lines.append(
            f"  {prefix}python -c '{imports}; {load_line(report.framework, report.repo_id, revision)}'"
        )
    if embedded:
        lines.append("")
        lines.append(f"This was hubkit's local hub at {report.endpoint}; it stopped with this command.")
        port = urlsplit(report.endpoint).port
        lines.append(f"Browse and load again after starting it with: hubkit hub serve --port {port}")
    return "\n".join(lines)
