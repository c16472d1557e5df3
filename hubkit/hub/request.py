"""One request to the local hub, as the route handlers see it: :class:`Ctx` over the shared :class:`HubState`.

Kept apart from :mod:`hubkit.hub.app` (the ASGI entry point, which dispatches to the routes) so that the
route modules depend on this module and the app on the routes, never the other way round.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hubkit.hub.faults import FaultInjector
from hubkit.hub.lfs import LfsUploads
from hubkit.hub.storage import RepoRef, Store
from hubkit.hub.users import DEFAULT_USER, Directory, Identity
from hubkit.hub.validation import (
    MAX_JSON_BODY,
    REPO_TYPES,
    HubHTTPError,
    bad_request,
    check_repo_part,
    repo_not_found,
)

# First path segments that cannot be model namespaces (they name endpoints instead).
RESERVED = frozenset({"api", "_lfs", "_xet", "_pages", *REPO_TYPES})
# The pages' login cookie: an HMAC of the hub token under the data dir's key, never the token itself.
SESSION_COOKIE = "hubkit_session"


def session_value(secret: bytes, token_sha256: str) -> str:
    """The login cookie's value for a hub token, given as its sha256 (changes with the token or the key).

    Example:
        >>> len(session_value(b"key", "token"))
        64
    """
    return hmac.new(secret, b"hubkit-pages-session\x00" + token_sha256.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class HubConfig:
    """Settings of one local hub server."""

    token: str | None = None  # required for writes when set (the one user's token, without ``users``)
    user: str = DEFAULT_USER  # name returned by whoami, default namespace (without ``users``)
    users: Directory | None = None  # users, orgs and hashed tokens (hubkit/hub/users.py); None: one user
    tree_page_size: int = 1000  # entries per /tree page (the Hub uses 1000)
    commits_page_size: int = 50  # entries per /commits page
    xet: bool = True  # serve the Xet CAS and steer LFS-sized files to it (docs/local-hub.md, "Xet")
    xet_token_ttl_s: int = 3600  # lifetime of the Xet access tokens handed out


class Ctx:
    """One request: parsed segments and query, plus access to the store and settings."""

    def __init__(self, hub: HubState, request: Request, segments: list[str]) -> None:
        self.hub = hub
        self.store = hub.store
        self.request = request
        self.segments = segments
        self.query = parse_qs(request.scope.get("query_string", b"").decode("latin-1"))

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def flag(self, name: str) -> bool:
        return (self.arg(name) or "").lower() in ("1", "true")

    @property
    def base_url(self) -> str:
        """Endpoint URL as the client sees it, from the Host header (URLs we return must match it)."""
        scope = self.request.scope
        host = self.request.headers.get("host")
        if not host:
            server = scope.get("server") or ("127.0.0.1", 80)
            host = f"{server[0]}:{server[1]}"
        root = scope.get("root_path", "")
        return f"{scope.get('scheme', 'http')}://{host}{root}"

    def bearer(self) -> str | None:
        auth = self.request.headers.get("authorization", "")
        return auth[7:].strip() if auth[:7].lower() == "bearer " else None

    def identity(self) -> Identity | None:
        """Who sends the request, from its token (None: no token). An unknown token is a 401, as on the Hub.

        A hub without any token (``open_write``) treats every caller as its one user, with write access.
        """
        directory = self.hub.directory
        if directory.open_write:
            return directory.identity_of(directory.default_user)
        given = self.bearer()
        if given is None:
            return None
        identity = directory.identify(given)
        if identity is None:
            raise HubHTTPError(401, "Unauthorized", "Invalid user token.")
        return identity

    def reader(self) -> Identity | None:
        """Who may read: the token's identity, else the pages' login cookie (a read-only identity).

        The cookie grants reads only (it is never accepted for writes: a browser sends it by itself).
        """
        identity = self.identity()
        if identity is not None:
            return identity
        cookie = self.request.cookies.get(SESSION_COOKIE, "")
        if not cookie:
            return None
        directory = self.hub.directory
        for digest, (user, _, name) in directory.tokens.items():
            if hmac.compare_digest(cookie.encode(), session_value(self.store.secret, digest).encode()):
                return directory.identity_of(user, "read", name)
        return None

    def may_read(self, namespace: str) -> bool:
        """Whether the caller may see the private repos of ``namespace`` (its own or one of its orgs)."""
        reader = self.reader()
        return reader is not None and reader.member_of(namespace)

    def require_write(self) -> Identity:
        """The caller, who must hold a write token (401 without a known token, 403 for a read token)."""
        identity = self.identity()
        if identity is None:
            raise HubHTTPError(
                401, "Unauthorized", "Invalid or missing token: writes to this hub need its token."
            )
        if identity.role != "write":
            raise HubHTTPError(
                403, "Forbidden", "This token has read-only access: writes need a token with the write role."
            )
        return identity

    def require_write_to(self, namespace: str) -> Identity:
        """A write token of ``namespace``'s user or of a member of that org (403 otherwise)."""
        identity = self.require_write()
        if not identity.may_write(namespace):
            raise HubHTTPError(
                403,
                "Forbidden",
                f"You don't have the rights to write to {namespace}: "
                "only its user and the members of that org may.",
            )
        return identity

    def writable(self, repo: RepoRef) -> Identity:
        """The caller if it may write to ``repo``: 404 if it cannot even see it, 403 if it only reads it."""
        self.require_write()
        self.readable(repo)
        return self.require_write_to(repo.namespace)

    def check_read_token(self) -> None:
        """A wrong token is refused even for reads (like the Hub); no token is fine."""
        self.identity()

    def readable(self, repo: RepoRef) -> dict[str, Any]:
        """The repo's metadata if the caller may see it; private repos of others are a 404 (the Hub's)."""
        self.check_read_token()
        meta = self.store.repo_meta(repo)
        if meta.get("private") and not self.may_read(repo.namespace):
            raise repo_not_found()
        return meta

    async def body(self, limit: int = MAX_JSON_BODY) -> bytes:
        declared = self.request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            raise HubHTTPError(413, "PayloadTooLarge", f"Request body larger than {limit} bytes.")
        data = bytearray()
        async for chunk in self.request.stream():
            data += chunk
            if len(data) > limit:
                raise HubHTTPError(413, "PayloadTooLarge", f"Request body larger than {limit} bytes.")
        return bytes(data)

    async def json(self, *, allow_empty: bool = False) -> Any:
        raw = await self.body()
        if not raw.strip() and allow_empty:
            return {}
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise bad_request("Request body is not valid JSON.", "InvalidJson") from None


class HubState:
    """Everything a running hub shares across requests."""

    def __init__(self, store: Store, config: HubConfig, faults: FaultInjector) -> None:
        self.store = store
        self.config = config
        self.faults = faults
        self.lfs = LfsUploads(store)
        self.directory = config.users or Directory.single(config.token, config.user)
        # Tests act at an exact request (e.g. SIGKILL a client when its k-th request arrives): called with
        # (method, raw path) before faults and handlers, on the server's event loop; keep it quick.
        self.observer: Callable[[str, str], None] | None = None


Handler = Callable[[Ctx], Awaitable[Response]]


def header_safe(text: str, limit: int = 300) -> str:
    """``text`` reduced to printable ASCII (HTTP header values may not carry NUL, newlines, UTF-8).

    Example:
        >>> header_safe("bad\x00path é")
        'bad?path ?'
    """
    return "".join(c if " " <= c <= "~" else "?" for c in text[:limit])


def error_response(err: HubHTTPError) -> Response:
    headers = {
        "X-Error-Code": header_safe(err.code),
        "X-Error-Message": header_safe(err.message),
        "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",  # a browser may open it
    }
    headers.update(dict(err.headers))
    return JSONResponse({"error": err.message}, status_code=err.status, headers=headers)


def split_raw_path(raw: bytes) -> list[str]:
    """``b"/api/models/u/r/revision/feat%2Fx"`` -> ``["api", "models", "u", "r", "revision", "feat/x"]``."""
    text = raw.decode("latin-1")
    if "?" in text:
        text = text.split("?", 1)[0]
    parts = text.split("/")[1:] if text.startswith("/") else text.split("/")
    try:
        return [unquote(p, errors="strict") for p in parts]
    except UnicodeDecodeError:
        raise bad_request(
            "The request path is not valid UTF-8 after percent-decoding.", "InvalidPath"
        ) from None


def repo_from(url_type: str, namespace: str, name: str) -> RepoRef:
    """A validated :class:`RepoRef` from URL parts."""
    if url_type not in REPO_TYPES:
        raise HubHTTPError(404, "NotFound", f"No such endpoint for repo type {url_type!r}.")
    check_repo_part(namespace, "namespace")
    check_repo_part(name)
    return RepoRef(REPO_TYPES[url_type], namespace, name)
