"""The no-op fast path: a re-run of a finished publish answers "unchanged" from one ``refs`` call.

After a successful publish, hubkit records the report under a key over the run dir's file identities
(name, size, mtime, inode of the files in the run dir and its ``checkpoints/``), the options and the
templates. A re-run with the same key only asks the Hub for its refs: when every branch, ``main`` and the
tag still point at the recorded commits (commits are immutable, so their files are too) and no staging
branch is left, nothing needs reading, converting, rendering or uploading, and no heavy library is
imported. Anything else falls through to the full plan.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubkit.publish import cache
from hubkit.publish.endpoint import display_endpoint
from hubkit.publish.naming import STAGING_PREFIX
from hubkit.publish.report import FileReport, MainReport, PublishReport, RevisionReport

if TYPE_CHECKING:
    from hubkit.publish.options import PublishOptions
    from hubkit.publish.remote import Remote

# Where run files live: the run dir itself and OpenCLIP's checkpoints/ folder (not the data folders).
_SCANNED = (".", "checkpoints")


def run_key(run_dir: Path, options: PublishOptions) -> str | None:
    """The key of a publish: run dir file identities + options + templates (None if the dir is unreadable).

    Example:
        >>> run_key(Path("runs/timm-digits"), PublishOptions())  # doctest: +SKIP
        '0f3c…'
    """
    entries: list[list[Any]] = []
    for sub in _SCANNED:
        try:
            with os.scandir(run_dir / sub) as it:
                for entry in it:
                    if entry.is_file():
                        st = entry.stat()
                        entries.append([f"{sub}/{entry.name}", st.st_size, st.st_mtime_ns, st.st_ino])
        except OSError:
            if sub == ".":
                return None
    from importlib.resources import files

    opts = {k: v for k, v in asdict(options).items() if k != "dry_run"}
    return cache.input_key(
        {
            "kind": "publish",
            "run_dir": str(run_dir.resolve()),
            "files": sorted(entries),
            "options": opts,
            "model_config": cache.file_identity(options.model_config),
            "templates": cache.tree_digest(Path(str(files("hubkit.templates")))),
            "user_templates": cache.tree_digest(options.template_dir),
        }
    )


def remember(key: str | None, report: PublishReport) -> None:
    """Record a successful publish so that the same command can later be answered from refs alone."""
    if key is None or report.dry_run:
        return
    data = report.to_json()
    data["framework"] = report.framework
    cache.write_json(key, "publish", data)


def recorded_repo(key: str | None) -> str | None:
    """The repo id the recorded publish went to (None without a record)."""
    data = cache.read_json(key, "publish")
    return str(data["repo_id"]) if data and "repo_id" in data else None


def unchanged(key: str | None, remote: Remote, dry_run: bool, started: float) -> PublishReport | None:
    """The report of a publish that has nothing to do, or None when the full plan must run.

    Args:
        key: :func:`run_key` of this command.
        remote: the target repo (only ``refs`` is called).
        dry_run: report in dry-run form (nothing would be written either way).
        started: ``time.perf_counter()`` at the start of the command, for the total duration.
    """
    data = cache.read_json(key, "publish")
    if data is None or data.get("repo_id") != remote.repo_id:
        return None
    try:
        refs = remote.refs()
        if refs is None or any(name.startswith(STAGING_PREFIX) for name in refs.branches):
            return None
        revisions = tuple(_revision(r) for r in data["revisions"])
        if any(refs.branches.get(r.revision) != r.commit for r in revisions):
            return None
        main = (
            MainReport(**{k: v for k, v in data["main"].items() if k != "revision"}) if data["main"] else None
        )
        if main is not None and refs.branches.get("main") != main.commit:
            return None
        tag = data["tag"]
        if tag is not None and (main is None or refs.tags.get(tag) != main.commit):
            return None
    except (KeyError, TypeError, ValueError):
        return None
    return PublishReport(
        repo_id=remote.repo_id,
        endpoint=display_endpoint(remote.endpoint),
        repo_url=remote.repo_url,
        dry_run=dry_run,
        main=main,
        tag=tag,
        revisions=revisions,
        commits=0,
        durations={"plan": time.perf_counter() - started, "total": time.perf_counter() - started},
        framework=str(data.get("framework", "timm")),
    )


def _revision(raw: dict[str, Any]) -> RevisionReport:
    report = RevisionReport(
        revision=str(raw["revision"]),
        epoch=int(raw["epoch"]),
        commit=str(raw["commit"]),
        status="unchanged",
        bytes_uploaded=0,
        files=tuple(FileReport(str(f["path"]), int(f["size"]), str(f["sha256"])) for f in raw["files"]),
        metrics={str(k): float(v) for k, v in raw["metrics"].items()},
        verified=raw["verified"],
        reasons=tuple(str(r) for r in raw["reasons"]),
    )
    return replace(report, note="identical commit on the Hub")
