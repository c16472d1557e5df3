"""A model card (untrusted) rendered to safe HTML, as the Hub renders it.

GitHub-flavoured markdown (markdown-it-py's CommonMark plus tables and strikethrough), fenced code
highlighted by Pygments into CSS classes (no inline styles: the pages' CSP forbids them), then every
tag and attribute filtered by nh3 (ammonia): no script, no event handlers, no ``style``, no
``javascript:``/``data:`` URLs, no frames, forms or SVG. Images load only from this hub: a relative
``src`` that names a file of the revision becomes its ``/resolve`` URL, anything else loses its ``src``.
Relative links go to the file's ``blob`` page at the same revision.

Rendering a 100 KB card takes a few hundred ms (markdown-it-py is pure Python), so the sanitised HTML
is cached by the card's sha256 and the revision's file list, in memory and on disk (``cache/cards/``
in the hub's data dir), with the repo, revision and commit left as tokens filled in per request; the
hub renders a pushed card right after the commit that brings it (:func:`prerender`), as the Hub does.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import posixpath
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import nh3
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

from hubkit.hub.routes_repo import front_matter

# Pygments' short token classes ("k", "s2", "nf"...): the only classes a card's HTML may carry.
_TOKEN_CLASSES = frozenset(c for c in STANDARD_TYPES.values() if c)
_TAGS = frozenset(nh3.ALLOWED_TAGS - {"map", "area"})  # image maps would bring their own hrefs
_ATTRIBUTES = {k: set(v) for k, v in nh3.ALLOWED_ATTRIBUTES.items() if k in _TAGS}
_ATTRIBUTES["h1"] = _ATTRIBUTES["h2"] = _ATTRIBUTES["h3"] = {"id"}
_CLASSES = {"span": set(_TOKEN_CLASSES), "pre": {"highlight"}}
_URL_SCHEMES = frozenset({"http", "https", "mailto"})
_FORMATTER = HtmlFormatter(nowrap=True)
# Filled in per request (only validated, URL-quoted values go there; a card that writes them gains nothing).
_REPO, _REV, _COMMIT = "__hubkit_repo__", "__hubkit_rev__", "__hubkit_commit__"
RENDER_VERSION = 1  # part of the cache key: bump it when rendering or sanitising changes
_MEMORY: OrderedDict[str, str] = OrderedDict()  # cache key -> sanitised HTML with tokens
_MEMORY_MAX = 32
_LOCK = threading.Lock()


@dataclass(frozen=True)
class CardPlace:
    """Where a card is shown: the repo's web path, the revision in links, and the files it may point at.

    Example: ``CardPlace("local/timm-digits", "epoch-000", "2f8d…", frozenset({"training_curves.png"}))``
    """

    repo_path: str  # "local/timm-digits" (or "datasets/o/n")
    rev: str  # "main": used in blob links, as the reader chose it
    commit: str  # 40 hex: images resolve at this exact commit
    files: frozenset[str]  # paths of the revision (images must name one of them)

    @property
    def files_key(self) -> str:
        return hashlib.sha1("\n".join(sorted(self.files)).encode(), usedforsecurity=False).hexdigest()[:16]


@dataclass(frozen=True)
class RenderedCard:
    """A card split into its front matter and its sanitised HTML body."""

    html: str  # safe to insert unescaped
    metadata: dict[str, object]  # the YAML front matter ({} when absent or invalid)
    metadata_error: str | None  # "invalid YAML front matter: ..." when it could not be read


def split_front_matter(text: str) -> tuple[dict[str, object], str, str | None]:
    """``(front matter, body, error)`` of a README; an invalid header is reported, not raised.

    Example:
        >>> split_front_matter("---\\nlicense: mit\\n---\\n# Hi\\n")
        ({'license': 'mit'}, '# Hi\\n', None)
    """
    try:
        data = front_matter(text)
    except ValueError as exc:
        return {}, text, str(exc)
    if data is None:
        return {}, text, None
    lines = text.splitlines(keepends=True)
    end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---")
    return dict(data), "".join(lines[end + 1 :]), None


def _highlight(code: str, lang: str, _attrs: str) -> str:
    try:
        lexer = get_lexer_by_name(lang.strip() or "text")
    except ClassNotFound:
        return ""  # markdown-it escapes it as plain code
    return f'<pre class="highlight"><code>{highlight(code, lexer, _FORMATTER)}</code></pre>'


@functools.cache
def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True, "highlight": _highlight})
    return md.enable(["table", "strikethrough"])


def _target(value: str) -> str | None:
    """A relative URL resolved inside the repo (``None``: outside it or not a relative path)."""
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path or parts.path.startswith("/"):
        return None
    path = posixpath.normpath(parts.path)
    return None if path.startswith("..") or path == "." else path


def _url_filter(files: frozenset[str], tag: str, attr: str, value: str) -> str | None:
    if tag == "img" and attr == "src":
        path = _target(value)
        if path is None or path not in files:
            return None  # remote, data: or missing image: never loaded
        return f"/{_REPO}/resolve/{_COMMIT}/{quote(path)}"
    if tag == "a" and attr == "href":
        if value.startswith("#"):
            return value
        path = _target(value)
        if path is not None:
            fragment = urlsplit(value).fragment
            link = f"/{_REPO}/blob/{_REV}/{quote(path)}"
            return link + (f"#{fragment}" if fragment else "")
        parts = urlsplit(value)
        if not parts.scheme and not parts.netloc and not value.startswith("/"):
            return None  # a relative link that leaves the repo ("../../x")
        return value  # nh3 has already refused schemes other than http(s)/mailto
    if attr in ("cite", "longdesc"):
        return None  # no URL but links and this hub's images
    return value


def _sanitised(body: str, files: frozenset[str]) -> str:
    return nh3.clean(
        _markdown().render(body),
        tags=set(_TAGS),
        clean_content_tags={"script", "style"},
        attributes=_ATTRIBUTES,
        allowed_classes=_CLASSES,
        url_schemes=set(_URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        attribute_filter=functools.partial(_url_filter, files),
        strip_comments=True,
    )


def _cached_html(body: str, text: str, place: CardPlace, cache_dir: Path | None) -> str:
    key = f"v{RENDER_VERSION}-{hashlib.sha256(text.encode()).hexdigest()}-{place.files_key}"
    with _LOCK:
        if key in _MEMORY:
            _MEMORY.move_to_end(key)
            return _MEMORY[key]
    path = cache_dir / f"{key}.html" if cache_dir is not None else None
    html = None
    if path is not None:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            html = path.read_text(encoding="utf-8")
    if html is None:
        html = _sanitised(body, place.files)
        if path is not None:
            _write(path, html)
    with _LOCK:
        _MEMORY[key] = html
        while len(_MEMORY) > _MEMORY_MAX:
            _MEMORY.popitem(last=False)
    return html


def _write(path: Path, html: str) -> None:
    with contextlib.suppress(OSError):  # a cache: failing to write it only costs time
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(html)
        os.replace(tmp, path)


def render_card(text: str, place: CardPlace, cache_dir: Path | None = None) -> RenderedCard:
    """The card's sanitised HTML and front matter, links and images rewritten for ``place``.

    Args:
        text: the README, front matter included.
        place: where it is shown.
        cache_dir: where rendered cards are kept between runs (``None``: in memory only).

    Example:
        >>> render_card("# Hi <script>x</script>", CardPlace("o/n", "main", "0" * 40, frozenset())).html
        '<h1>Hi </h1>\\n'
    """
    metadata, body, error = split_front_matter(text)
    html = _cached_html(body, text, place, cache_dir)
    html = html.replace(_REPO, place.repo_path).replace(_REV, quote(place.rev, safe=""))
    return RenderedCard(html=html.replace(_COMMIT, place.commit), metadata=metadata, metadata_error=error)


def highlight_file(path: str, text: str) -> str:
    """A text file's content as highlighted HTML lines (escaped; Pygments picks the lexer by name).

    Example:
        >>> "<span" in highlight_file("a.py", "import os\\n")
        True
    """
    from pygments.lexers import get_lexer_for_filename
    from pygments.lexers.special import TextLexer

    try:
        lexer = get_lexer_for_filename(path, text)
    except ClassNotFound:
        lexer = TextLexer()
    return highlight(text, lexer, _FORMATTER)


def pygments_css() -> str:
    """The token colours for ``.highlight`` blocks (served with the pages' stylesheet)."""
    return str(HtmlFormatter().get_style_defs(".highlight"))
