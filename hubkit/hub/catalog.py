"""The repos of a local hub as listings see them: one :class:`RepoSummary` per repo, read from its ``main``.

Shared by ``GET /api/models`` (:mod:`hubkit.hub.routes_list`) and the pages' index. Tags are derived
the way the Hub derives them for its listings: the card's ``tags``, the library name, ``license:…``,
``dataset:…`` and the file formats (``safetensors``). Front matter is cached by the README's sha256
(content-addressed, so a cached value never goes stale).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hubkit.hub.routes_repo import front_matter
from hubkit.hub.storage import DEFAULT_BRANCH, Commit, RepoRef, Store
from hubkit.hub.validation import HubHTTPError
from hubkit.layout import README

MAX_CARD_BYTES = 1024 * 1024  # larger READMEs are listed without their front matter


@dataclass(frozen=True)
class RepoSummary:
    """One repo as a listing shows it (``main`` of the repo)."""

    repo: RepoRef
    private: bool  # hidden from callers without the token
    created_at: str  # "2026-12-01T10:00:00.000Z"
    last_modified: str  # date of main's commit
    sha: str  # main's commit id
    card: dict[str, Any]  # the README's front matter ({} without one)
    tags: tuple[str, ...]  # ("timm", "image-classification", "license:apache-2.0", "safetensors")
    files: tuple[str, ...]  # paths at main

    @property
    def library(self) -> str | None:
        value = self.card.get("library_name")
        return value if isinstance(value, str) else None

    @property
    def pipeline_tag(self) -> str | None:
        value = self.card.get("pipeline_tag")
        return value if isinstance(value, str) else None

    def api_item(self, *, full: bool = False, card_data: bool = False) -> dict[str, Any]:
        """The ``/api/models`` entry (the Hub's default fields; ``full`` adds sha, siblings, lastModified)."""
        item: dict[str, Any] = {
            "_id": self.sha[:24],
            "id": self.repo.repo_id,
            "modelId": self.repo.repo_id,
            "author": self.repo.namespace,
            "private": self.private,
            "likes": 0,
            "downloads": 0,
            "trendingScore": 0,
            "tags": list(self.tags),
            "createdAt": self.created_at,
            "lastModified": self.last_modified,
        }
        if self.library:
            item["library_name"] = self.library
        if self.pipeline_tag:
            item["pipeline_tag"] = self.pipeline_tag
        if full:
            item.update(sha=self.sha, siblings=[{"rfilename": p} for p in self.files], gated=False)
        if card_data and self.card:
            item["cardData"] = self.card
        return item


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def derived_tags(card: dict[str, Any], files: tuple[str, ...]) -> tuple[str, ...]:
    """The Hub-style tags of a repo from its front matter and file names (order kept, no duplicates).

    Example:
        >>> derived_tags({"library_name": "timm", "license": "mit", "tags": ["x"]}, ("model.safetensors",))
        ('timm', 'safetensors', 'x', 'license:mit')
    """
    tags = _strings(card.get("library_name"))
    if any(p.endswith(".safetensors") for p in files):
        tags.append("safetensors")
    tags += _strings(card.get("tags")) + _strings(card.get("pipeline_tag"))
    tags += [f"dataset:{d}" for d in _strings(card.get("datasets"))]
    tags += [f"license:{lic}" for lic in _strings(card.get("license"))]
    return tuple(dict.fromkeys(tags))


_FRONT_MATTER: dict[str, dict[str, Any]] = {}  # README sha256 -> front matter (content-addressed)
_FRONT_MATTER_MAX = 4096


def read_text(store: Store, sha256: str, limit: int = MAX_CARD_BYTES) -> str | None:
    """A stored content as UTF-8 text, ``None`` when larger than ``limit`` or not text."""
    size = store.object_size(sha256)
    if size is None or size > limit:
        return None
    try:
        return b"".join(store.iter_content(sha256)).decode("utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def card_metadata(store: Store, commit: Commit) -> dict[str, Any]:
    """The front matter of a commit's README ({} when it has none, or it is too large or invalid)."""
    entry = commit.files.get(README)
    if entry is None:
        return {}
    cached = _FRONT_MATTER.get(entry.sha256)
    if cached is not None:
        return cached
    text = read_text(store, entry.sha256)
    try:
        card = dict(front_matter(text) or {}) if text is not None else {}
    except ValueError:
        card = {}
    if len(_FRONT_MATTER) >= _FRONT_MATTER_MAX:
        _FRONT_MATTER.clear()
    _FRONT_MATTER[entry.sha256] = card
    return card


def summarize(store: Store, repo: RepoRef) -> RepoSummary | None:
    """The summary of one repo, ``None`` when it vanished or has no ``main`` (being created/deleted)."""
    try:
        meta = store.repo_meta(repo)
        commit = store.read_commit(repo, store.resolve(repo, DEFAULT_BRANCH)[0])
    except (HubHTTPError, OSError, ValueError):
        return None
    files = tuple(sorted(commit.files))
    card = card_metadata(store, commit)
    return RepoSummary(
        repo=repo,
        private=bool(meta.get("private")),
        created_at=str(meta.get("createdAt", commit.date)),
        last_modified=commit.date,
        sha=commit.id,
        card=card,
        tags=derived_tags(card, files),
        files=files,
    )


def list_summaries(
    store: Store, *, repo_type: str = "model", with_private: bool | Callable[[str], bool]
) -> list[RepoSummary]:
    """Every repo of a type the caller may see, newest ``main`` first.

    ``with_private``: whether private repos are listed, or a function of the namespace that says it.

    Example:
        >>> [s.repo.repo_id for s in list_summaries(store, with_private=False)]  # doctest: +SKIP
        ['localuser/timm-digits']
    """
    out = []
    for repo in store.list_repos():
        if repo.type != repo_type:
            continue
        summary = summarize(store, repo)
        if summary is None:
            continue
        if not summary.private or (with_private(repo.namespace) if callable(with_private) else with_private):
            out.append(summary)
    out.sort(key=lambda s: s.last_modified, reverse=True)
    return out


def matches(summary: RepoSummary, *, author: str | None, search: str | None, filters: list[str]) -> bool:
    """The Hub's listing filters: author (namespace), search (substring of the id), every filter a tag."""
    if author and summary.repo.namespace.lower() != author.lower():
        return False
    if search and search.lower() not in summary.repo.repo_id.lower():
        return False
    tags = {t.lower() for t in summary.tags}
    return all(f.lower() in tags for f in filters)
