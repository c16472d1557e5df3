"""View data of the history pages: commits, one commit, hubkit's revisions, and two revisions compared.

The revisions view reads the typed records of each published revision (:class:`hubkit.layout.HubkitRecord`
from ``hubkit.json``, :class:`hubkit.layout.VerificationRecord` from ``verification.json``).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from hubkit.errors import HubkitError
from hubkit.hub.catalog import read_text
from hubkit.hub.pages.views import RepoView, hubkit_record, human_size, rev_path
from hubkit.hub.storage import Commit, FileEntry, RepoRef, Store
from hubkit.layout import README, VERIFICATION_JSON, HubkitRecord, VerificationRecord

MAX_DIFF_BYTES = 256 * 1024  # text files larger than this are compared by hash only
MAX_DIFF_LINES = 1000
COMMITS_PER_PAGE = 100


@dataclass(frozen=True)
class CommitRow:
    id: str
    short: str
    title: str
    date: str
    author: str
    url: str


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add" | "del" | "ctx" | "hunk"
    text: str


@dataclass(frozen=True)
class FileChange:
    path: str
    status: str  # "added" | "removed" | "modified" | "unchanged"
    old_size: str  # "" when absent
    new_size: str
    diff: tuple[DiffLine, ...]  # text files only


@dataclass(frozen=True)
class CommitsPage:
    view: RepoView
    rows: tuple[CommitRow, ...]
    page: int
    has_next: bool


@dataclass(frozen=True)
class CommitPage:
    view: RepoView
    parent: CommitRow | None
    changes: tuple[FileChange, ...]


@dataclass(frozen=True)
class MetricCell:
    name: str  # "top1"
    recorded: str  # "97.50" or ""
    measured: str  # "97.22" or ""
    passed: bool | None  # None: not checked


@dataclass(frozen=True)
class RevisionRow:
    """One published revision of a hubkit release."""

    name: str  # "epoch-003"
    kind: str  # "branch" | "tag"
    commit: CommitRow
    epoch: str  # "3" or "" when the revision has no hubkit.json
    weights: str  # "ema" | "raw" | ""
    metrics: tuple[MetricCell, ...]
    verified: bool | None  # None: no verification.json
    unchanged: str  # "4.1 MB of 5.0 MB (82 %)" vs the previous row, "" for the first
    url: str


@dataclass(frozen=True)
class RevisionsPage:
    view: RepoView
    rows: tuple[RevisionRow, ...]


@dataclass(frozen=True)
class ComparePage:
    view: RepoView
    a: str
    b: str
    a_commit: CommitRow
    b_commit: CommitRow
    metrics: tuple[
        tuple[str, str, str, str, str], ...
    ]  # (name, a recorded, b recorded, a measured, b measured)
    files: tuple[FileChange, ...]
    card_diff: tuple[DiffLine, ...]
    choices: tuple[str, ...]


def commit_row(repo: RepoRef, commit: Commit) -> CommitRow:
    return CommitRow(
        commit.id,
        commit.id[:7],
        commit.title,
        commit.date,
        commit.author,
        f"/{repo.url_path}/commit/{commit.id}",
    )


def commits_page(store: Store, view: RepoView, page: int) -> CommitsPage:
    history = store.history(view.repo, view.commit.id)
    start = page * COMMITS_PER_PAGE
    rows = tuple(commit_row(view.repo, c) for c in history[start : start + COMMITS_PER_PAGE])
    return CommitsPage(view, rows, page, start + COMMITS_PER_PAGE < len(history))


def _text(store: Store, entry: FileEntry | None) -> list[str] | None:
    if entry is None:
        return []
    if entry.lfs or entry.size > MAX_DIFF_BYTES:
        return None
    text = read_text(store, entry.sha256, MAX_DIFF_BYTES)
    return None if text is None else text.splitlines()


def text_diff(old: list[str], new: list[str], names: tuple[str, str]) -> tuple[DiffLine, ...]:
    """A unified diff as typed lines (at most :data:`MAX_DIFF_LINES`)."""
    out = []
    for line in difflib.unified_diff(old, new, names[0], names[1], lineterm="", n=2):
        if line.startswith(("---", "+++")):
            continue
        kind = {"@": "hunk", "+": "add", "-": "del"}.get(line[:1], "ctx")
        out.append(DiffLine(kind, line))
        if len(out) >= MAX_DIFF_LINES:
            out.append(DiffLine("hunk", "… (diff cut here)"))
            break
    return tuple(out)


def file_changes(
    store: Store, old: dict[str, FileEntry], new: dict[str, FileEntry], *, diffs: bool, keep_same: bool
) -> tuple[FileChange, ...]:
    changes = []
    for path in sorted(set(old) | set(new)):
        a, b = old.get(path), new.get(path)
        if a is not None and b is not None and a.sha256 == b.sha256:
            if keep_same:
                changes.append(FileChange(path, "unchanged", human_size(a.size), human_size(b.size), ()))
            continue
        status = "added" if a is None else "removed" if b is None else "modified"
        diff: tuple[DiffLine, ...] = ()
        if diffs:
            before, after = _text(store, a), _text(store, b)
            if before is not None and after is not None:
                diff = text_diff(before, after, (path, path))
        changes.append(
            FileChange(path, status, human_size(a.size) if a else "", human_size(b.size) if b else "", diff)
        )
    return tuple(changes)


def commit_page(store: Store, view: RepoView) -> CommitPage:
    parent = store.read_commit(view.repo, view.commit.parents[0]) if view.commit.parents else None
    changes = file_changes(
        store, parent.files if parent else {}, view.commit.files, diffs=True, keep_same=False
    )
    return CommitPage(view, commit_row(view.repo, parent) if parent else None, changes)


def verification_record(store: Store, commit: Commit) -> VerificationRecord | None:
    entry = commit.files.get(VERIFICATION_JSON)
    text = read_text(store, entry.sha256) if entry is not None else None
    if text is None:
        return None
    try:
        return VerificationRecord.from_json(text)
    except HubkitError:
        return None


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def metric_cells(
    record: HubkitRecord | None, verification: VerificationRecord | None
) -> tuple[MetricCell, ...]:
    """Re-measured metrics next to the recorded ones; recorded-only metrics after them."""
    cells = []
    seen = set()
    for check in verification.checks if verification is not None else ():
        cells.append(
            MetricCell(
                check.name,
                _fmt(check.recorded),
                _fmt(check.measured),
                check.passed if check.checked else None,
            )
        )
        seen.add(check.name)
    for name, value in sorted((record.metrics if record is not None else {}).items()):
        if name not in seen:
            cells.append(MetricCell(name, _fmt(value), "", None))
    return tuple(cells)


def _sort_key(name: str, record: HubkitRecord | None) -> tuple[bool, int, bool, str]:
    """Epoch order; within an epoch (and for refs without hubkit.json) ``main`` after the others."""
    epoch = record.epoch if record is not None else None
    return (epoch is None, epoch or 0, name == "main", name)


def revisions_page(store: Store, view: RepoView) -> RevisionsPage:
    """One row per branch and tag, in epoch order (refs without ``hubkit.json`` last, ``main`` among them)."""
    refs = store.read_refs(view.repo)
    commits: dict[str, Commit] = {}
    found = []
    for kind, table in (("branch", refs["branches"]), ("tag", refs["tags"])):
        for name, cid in table.items():
            commit = commits.setdefault(cid, store.read_commit(view.repo, cid))
            shown = "pull request" if name.startswith("refs/pr/") else kind
            found.append((name, shown, hubkit_record(store, commit), commit))
    found.sort(key=lambda r: _sort_key(r[0], r[2]))
    rows = []
    previous: Commit | None = None
    for name, kind, record, commit in found:
        verification = verification_record(store, commit)
        total = sum(e.size for e in commit.files.values())
        unchanged = ""
        if previous is not None:
            before = {e.sha256 for e in previous.files.values()}
            same = sum(e.size for e in commit.files.values() if e.sha256 in before)
            share = 100 * same / total if total else 100.0
            unchanged = f"{human_size(same)} of {human_size(total)} ({share:.0f} %)"
        rows.append(
            RevisionRow(
                name=name,
                kind=kind,
                commit=commit_row(view.repo, commit),
                epoch="" if record is None or record.epoch is None else str(record.epoch),
                weights=(record.weights or "") if record is not None else "",
                metrics=metric_cells(record, verification),
                verified=None if verification is None else verification.passed,
                unchanged=unchanged,
                url=f"/{view.path}/tree/{rev_path(name)}",
            )
        )
        previous = commit
    return RevisionsPage(view, tuple(rows))


def _lines(store: Store, commit: Commit) -> list[str]:
    entry = commit.files.get(README)
    text = read_text(store, entry.sha256) if entry is not None else ""
    return (text or "").splitlines()


def compare_page(
    store: Store, view: RepoView, a: str, a_commit: Commit, b: str, b_commit: Commit
) -> ComparePage:
    """Revision ``a`` against ``b``: metrics side by side, files, and the cards' diff."""
    cells: dict[str, list[str]] = {}
    for side, commit in ((0, a_commit), (1, b_commit)):
        for cell in metric_cells(hubkit_record(store, commit), verification_record(store, commit)):
            row = cells.setdefault(cell.name, ["", "", "", ""])
            row[side], row[2 + side] = cell.recorded, cell.measured
    refs = store.read_refs(view.repo)
    return ComparePage(
        view=view,
        a=a,
        b=b,
        a_commit=commit_row(view.repo, a_commit),
        b_commit=commit_row(view.repo, b_commit),
        metrics=tuple((name, v[0], v[1], v[2], v[3]) for name, v in cells.items()),
        files=file_changes(store, a_commit.files, b_commit.files, diffs=False, keep_same=True),
        card_diff=text_diff(_lines(store, a_commit), _lines(store, b_commit), (a, b)),
        choices=tuple(sorted(refs["branches"]) + sorted(refs["tags"])),
    )
