"""Xet access tokens: short-lived, signed with the data dir's key, scoped to a repo and read or write.

The Hub hands them out at ``GET /api/{type}s/{repo}/xet-{read|write}-token/{rev}`` (headers
``X-Xet-Cas-Url``, ``X-Xet-Access-Token``, ``X-Xet-Token-Expiration``, and the same as JSON
``{casUrl, accessToken, exp}``; spec "Authentication and Authorization"); the CAS accepts them as
``Authorization: Bearer``. Form: ``xet1.<base64url payload>.<hmac>``, payload
``{"s": scope, "r": "model:ns/name", "e": expiry}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

SCOPES = ("read", "write")
DEFAULT_TTL_S = 3600
_PREFIX = "xet1"


class TokenRefused(ValueError):
    """A missing, forged, expired or too narrow token (``status`` 401 or 403)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class XetGrant:
    """What a valid token allows."""

    scope: str  # "read" or "write" (write includes read)
    repo: str  # "model:localuser/tiny-vit"
    expires: int  # unix seconds


@dataclass(frozen=True)
class XetToken:
    """A minted token and its expiry."""

    token: str
    expires: int  # unix seconds


def _sign(secret: bytes, payload: str) -> str:
    return hmac.new(secret, f"xet-token:{payload}".encode(), hashlib.sha256).hexdigest()[:48]


def mint(
    secret: bytes, scope: str, repo: str, *, ttl_s: int = DEFAULT_TTL_S, now: float | None = None
) -> XetToken:
    """A new token for ``repo`` (``"model:ns/name"``).

    Example:
        >>> mint(b"k", "read", "model:u/r").token.startswith("xet1.")
        True
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown Xet token scope {scope!r}")
    expires = int(now if now is not None else time.time()) + ttl_s
    raw = json.dumps({"s": scope, "r": repo, "e": expires}, separators=(",", ":")).encode()
    payload = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return XetToken(f"{_PREFIX}.{payload}.{_sign(secret, payload)}", expires)


def check(secret: bytes, bearer: str | None, need: str, *, now: float | None = None) -> XetGrant:
    """The grant of ``bearer``; TokenRefused 401 (missing, forged, expired) or 403 (read for a write)."""
    if not bearer:
        raise TokenRefused(401, "A Xet access token is required (Authorization: Bearer).")
    parts = bearer.split(".")
    if len(parts) != 3 or parts[0] != _PREFIX or not hmac.compare_digest(parts[2], _sign(secret, parts[1])):
        raise TokenRefused(401, "Invalid Xet access token; ask the hub for a new one.")
    try:
        data = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        grant = XetGrant(scope=str(data["s"]), repo=str(data["r"]), expires=int(data["e"]))
    except (ValueError, KeyError, TypeError):
        raise TokenRefused(401, "Invalid Xet access token; ask the hub for a new one.") from None
    if grant.expires <= (now if now is not None else time.time()):
        raise TokenRefused(401, "The Xet access token has expired; ask the hub for a new one.")
    if need == "write" and grant.scope != "write":
        raise TokenRefused(403, "This Xet access token is read-only; uploads need a write token.")
    return grant
