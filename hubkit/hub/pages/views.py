"""View data of the repo pages (frozen dataclasses), built from the store; no HTML here.

The model page (:func:`model_page`), a folder (:func:`tree_page`) and a file (:func:`blob_page`). The
"Use this model" snippet comes from the framework object named by ``hubkit.json`` (or the card's
``library_name``): ``load_imports`` + ``load_line`` (:mod:`hubkit.frameworks`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from markupsafe import escape

from hubkit import frameworks
from hubkit.errors import HubkitError
from hubkit.hub.catalog import card_metadata, read_text
from hubkit.hub.pages.markdown import CardPlace, RenderedCard, highlight_file, render_card
from hubkit.hub.storage import Commit, FileEntry, RepoRef, Store
from hubkit.layout import HUBKIT_JSON, README, HubkitRecord

MAX_BLOB_VIEW = 512 * 1024  # larger files: metadata and a download link, never their content
MAX_HIGHLIGHT = 64 * 1024  # larger text files are shown plain (Pygments takes ~1.5 ms per KB)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")


def human_size(size: int) -> str:
    """``1536`` -> ``'1.5 kB'`` (decimal units, as the Hub shows them).

    Example:
        >>> human_size(999), human_size(1_500_000)
        ('999 Bytes', '1.5 MB')
    """
    if size < 1000:
        return f"{size} Bytes"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def rev_path(rev: str) -> str:
    """A revision as one URL path segment (``feat/x`` -> ``feat%2Fx``, as the Hub writes it)."""
    return quote(rev, safe="")


@dataclass(frozen=True)
class RepoView:
    """The repo and revision a page is about."""

    repo: RepoRef
    rev: str  # as the reader asked: "main", "epoch-000", "refs/pr/1", a commit id
    commit: Commit
    private: bool

    @property
    def path(self) -> str:
        return self.repo.url_path

    @property
    def rev_url(self) -> str:
        return rev_path(self.rev)

    @property
    def short(self) -> str:
        return self.commit.id[:7]


@dataclass(frozen=True)
class RefLink:
    """A branch or tag in the revision switcher."""

    name: str  # "epoch-000"
    kind: str  # "branch" | "tag"
    commit: str  # 40 hex
    url: str  # "/local/timm-digits/tree/epoch-000"
    current: bool


@dataclass(frozen=True)
class FileRow:
    """One entry of a file list."""

    path: str  # "sub/model.safetensors"
    name: str  # "model.safetensors"
    is_dir: bool
    size: int  # 0 for folders
    size_text: str  # "1.5 MB"
    storage: str  # "Xet" | "LFS" | "" (plain git)
    url: str  # blob or tree page
    download_url: str  # /resolve/...?download=true ("" for folders)


@dataclass(frozen=True)
class ResultRow:
    """One metric of the card's ``model-index``."""

    model: str
    task: str
    dataset: str
    metric: str
    value: str


@dataclass(frozen=True)
class Usage:
    """The "Use this model" snippet."""

    library: str  # "timm", or "huggingface_hub" when no framework knows the repo
    code: str  # Python setting HF_ENDPOINT to this hub, then loading the revision


@dataclass(frozen=True)
class SidePanel:
    """The card's front matter as the side panel shows it."""

    license: str | None
    library: str | None
    pipeline_tag: str | None
    datasets: tuple[str, ...]
    tags: tuple[str, ...]
    base_model: tuple[str, ...]
    results: tuple[ResultRow, ...]


@dataclass(frozen=True)
class ModelPage:
    view: RepoView
    refs: tuple[RefLink, ...]
    files: tuple[FileRow, ...]
    total_size: str
    card: RenderedCard | None  # None: no README at this revision
    card_too_large: bool
    panel: SidePanel
    usage: Usage


@dataclass(frozen=True)
class TreePage:
    view: RepoView
    refs: tuple[RefLink, ...]
    folder: str  # "" for the root
    crumbs: tuple[tuple[str, str], ...]  # (name, url) from the root down
    files: tuple[FileRow, ...]


@dataclass(frozen=True)
class BlobPage:
    view: RepoView
    refs: tuple[RefLink, ...]
    file: FileRow
    sha256: str
    git_oid: str
    kind: str  # "text" | "image" | "large" | "binary"
    html: str  # highlighted lines for "text"; "" otherwise
    image_url: str  # /resolve URL for "image"


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value if isinstance(v, str | int | float)) if isinstance(value, list) else ()


def storage_kind(store: Store, entry: FileEntry) -> str:
    """``Xet`` (content in the CAS only), ``LFS`` (large-file pointer) or ``""`` (regular git file)."""
    if not entry.lfs:
        return ""
    if not store.object_path(entry.sha256).is_file() and store.xet.file_for_sha256(entry.sha256):
        return "Xet"
    return "LFS"


def ref_links(store: Store, repo: RepoRef, current: str, page: str = "tree") -> tuple[RefLink, ...]:
    refs = store.read_refs(repo)
    links = []
    for kind, table in (("branch", refs["branches"]), ("tag", refs["tags"])):
        for name, commit in sorted(table.items(), key=lambda kv: (kv[0] != "main", kv[0])):
            url = f"/{repo.url_path}/{page}/{rev_path(name)}"
            shown = "pull request" if name.startswith("refs/pr/") else kind  # refs/pr/N, listed too
            links.append(RefLink(name, shown, commit, url, name == current))
    return tuple(links)


def file_rows(store: Store, view: RepoView, folder: str = "") -> tuple[FileRow, ...]:
    """The entries directly inside ``folder`` (sub-folders first, as on the Hub)."""
    prefix = f"{folder}/" if folder else ""
    dirs: dict[str, int] = {}
    rows = []
    base = f"/{view.path}"
    for path, entry in sorted(view.commit.files.items()):
        if not path.startswith(prefix):
            continue
        rest = path[len(prefix) :]
        if "/" in rest:
            name = rest.split("/", 1)[0]
            dirs[name] = dirs.get(name, 0) + entry.size
            continue
        quoted = quote(path)
        rows.append(
            FileRow(
                path=path,
                name=rest,
                is_dir=False,
                size=entry.size,
                size_text=human_size(entry.size),
                storage=storage_kind(store, entry),
                url=f"{base}/blob/{view.rev_url}/{quoted}",
                download_url=f"{base}/resolve/{view.rev_url}/{quoted}?download=true",
            )
        )
    folders = [
        FileRow(
            path=prefix + name,
            name=name,
            is_dir=True,
            size=size,
            size_text=human_size(size),
            storage="",
            url=f"{base}/tree/{view.rev_url}/{quote(prefix + name)}",
            download_url="",
        )
        for name, size in sorted(dirs.items())
    ]
    return tuple(folders + rows)


def _value(value: Any) -> str:
    """A metric value as the panel shows it (floats to at most 3 decimals: 42.000000610 -> "42")."""
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)


def _results(metadata: dict[str, Any]) -> tuple[ResultRow, ...]:
    rows = []
    index = metadata.get("model-index")
    for model in index if isinstance(index, list) else []:
        if not isinstance(model, dict):
            continue
        for result in model.get("results") or []:
            if not isinstance(result, dict):
                continue
            task, dataset = result.get("task") or {}, result.get("dataset") or {}
            task_name = str(task.get("name") or task.get("type") or "") if isinstance(task, dict) else ""
            data_name = (
                str(dataset.get("name") or dataset.get("type") or "") if isinstance(dataset, dict) else ""
            )
            for metric in result.get("metrics") or []:
                if isinstance(metric, dict):
                    label = str(metric.get("name") or metric.get("type") or "")
                    rows.append(
                        ResultRow(
                            str(model.get("name", "")),
                            task_name,
                            data_name,
                            label,
                            _value(metric.get("value")),
                        )
                    )
    return tuple(rows)


def side_panel(metadata: dict[str, Any]) -> SidePanel:
    """The panel of a card's front matter (every value reduced to text; the template escapes it)."""
    library = metadata.get("library_name")
    pipeline = metadata.get("pipeline_tag")
    return SidePanel(
        license=", ".join(_strings(metadata.get("license"))) or None,
        library=str(library) if isinstance(library, str) else None,
        pipeline_tag=str(pipeline) if isinstance(pipeline, str) else None,
        datasets=_strings(metadata.get("datasets")),
        tags=_strings(metadata.get("tags")),
        base_model=_strings(metadata.get("base_model")),
        results=_results(metadata),
    )


def hubkit_record(store: Store, commit: Commit) -> HubkitRecord | None:
    """The revision's ``hubkit.json``, ``None`` when absent or unreadable."""
    entry = commit.files.get(HUBKIT_JSON)
    text = read_text(store, entry.sha256) if entry is not None else None
    if text is None:
        return None
    try:
        return HubkitRecord.from_json(text)
    except HubkitError:
        return None


def usage(store: Store, view: RepoView, endpoint: str, library: str | None) -> Usage:
    """Python that loads this revision from this hub, written by the repo's framework object."""
    record = hubkit_record(store, view.commit)
    name = record.run.framework if record is not None else library
    setup = f'import os\nos.environ["HF_ENDPOINT"] = "{endpoint}"  # this hub, before the imports\n'
    revision = None if view.rev == "main" else view.rev
    try:
        framework = frameworks.get(name) if name else None
    except HubkitError:
        framework = None
    if framework is None:
        line = f'huggingface_hub.snapshot_download("{view.repo.repo_id}", revision="{view.rev}")'
        return Usage("huggingface_hub", f"{setup}import huggingface_hub\npath = {line}\n")
    line = framework.load_line(view.repo.repo_id, revision)
    return Usage(framework.name, f"{setup}{framework.load_imports}\nmodel = {line}\n")


def card_cache_dir(store: Store) -> Path:
    """Where rendered cards are kept (``cache/cards/`` in the data dir; safe to delete)."""
    return store.root / "cache" / "cards"


def prerender(store: Store, repo: RepoRef, commit: Commit) -> None:
    """Render a commit's card into the cache, so that its first page view is fast (run after a commit)."""
    entry = commit.files.get(README)
    if entry is None:
        return
    try:
        text = read_text(store, entry.sha256)
        if text is not None:
            place = CardPlace(repo.url_path, "main", commit.id, frozenset(commit.files))
            render_card(text, place, card_cache_dir(store))
    except Exception:  # a cache warm-up: never fail the commit that triggered it
        logging.getLogger("hubkit.hub").debug("pre-rendering the card of %s failed", commit.id, exc_info=True)


def model_page(store: Store, view: RepoView, endpoint: str) -> ModelPage:
    files = file_rows(store, view)
    entry = view.commit.files.get(README)
    card, too_large = None, False
    if entry is not None:
        text = read_text(store, entry.sha256)
        if text is None:
            too_large = True
        else:
            place = CardPlace(view.path, view.rev, view.commit.id, frozenset(view.commit.files))
            card = render_card(text, place, card_cache_dir(store))
    metadata = card.metadata if card is not None else card_metadata(store, view.commit)
    panel = side_panel(metadata)
    return ModelPage(
        view=view,
        refs=ref_links(store, view.repo, view.rev),
        files=files,
        total_size=human_size(sum(e.size for e in view.commit.files.values())),
        card=card,
        card_too_large=too_large,
        panel=panel,
        usage=usage(store, view, endpoint, panel.library),
    )


def _crumbs(view: RepoView, folder: str) -> tuple[tuple[str, str], ...]:
    crumbs = [(view.repo.name, f"/{view.path}/tree/{view.rev_url}")]
    parts = folder.split("/") if folder else []
    for i, part in enumerate(parts):
        crumbs.append((part, f"/{view.path}/tree/{view.rev_url}/{quote('/'.join(parts[: i + 1]))}"))
    return tuple(crumbs)


def tree_page(store: Store, view: RepoView, folder: str) -> TreePage | None:
    """A folder's listing; ``None`` when no file lives under it."""
    if folder and not any(p.startswith(folder + "/") for p in view.commit.files):
        return None
    return TreePage(
        view=view,
        refs=ref_links(store, view.repo, view.rev),
        folder=folder,
        crumbs=_crumbs(view, folder),
        files=file_rows(store, view, folder),
    )


def blob_page(store: Store, view: RepoView, path: str) -> BlobPage | None:
    """One file: highlighted text up to :data:`MAX_BLOB_VIEW`, an image, or metadata only."""
    entry = view.commit.files.get(path)
    if entry is None:
        return None
    folder = path.rsplit("/", 1)[0] if "/" in path else ""
    row = next(r for r in file_rows(store, view, folder) if r.path == path)
    kind, html, image = "large", "", ""
    if path.lower().endswith(IMAGE_SUFFIXES):
        kind, image = "image", f"/{view.path}/resolve/{view.commit.id}/{quote(path)}"
    elif entry.size <= MAX_BLOB_VIEW and not entry.lfs:
        text = read_text(store, entry.sha256, MAX_BLOB_VIEW)
        if text is None:
            kind = "binary"
        else:
            kind = "text"
            html = highlight_file(path, text) if entry.size <= MAX_HIGHLIGHT else escape(text)
    elif entry.lfs and entry.size <= MAX_BLOB_VIEW:
        kind = "binary"
    return BlobPage(
        view, ref_links(store, view.repo, view.rev), row, entry.sha256, entry.sha1, kind, html, image
    )
