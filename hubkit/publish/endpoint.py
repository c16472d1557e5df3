"""Where to publish: the endpoint and token, following the ecosystem's conventions.

Order: ``--endpoint`` then ``HF_ENDPOINT``; ``--token`` then ``HF_TOKEN`` then the stored login
(``huggingface_hub.get_token()``). With neither an endpoint nor a token, hubkit uses its embedded local hub,
started for the duration of the command.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from hubkit.errors import InputError
from hubkit.secrets import register_token

EMBEDDED_PORT = 8765  # the default of `hubkit hub serve --port`

HF_DEFAULT_ENDPOINT = "https://huggingface.co"


@dataclass(frozen=True)
class Target:
    """A resolved Hub to publish to."""

    endpoint: str  # "http://127.0.0.1:51234"; print it only through display_endpoint()
    token: str | None  # the write token; never printed (registered for redaction)
    embedded: bool  # True when hubkit started its own local hub for this command

    def __repr__(self) -> str:  # keep the token out of tracebacks and logs
        return f"Target(endpoint={self.endpoint!r}, token={'***' if self.token else None}, embedded={self.embedded})"


def display_endpoint(endpoint: str) -> str:
    """Return ``endpoint`` without user info, query or fragment, safe to print.

    Example:
        >>> display_endpoint("https://user:secret@hub.example.org/hf/?token=x")
        'https://hub.example.org/hf'
    """
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def _check_endpoint(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(
            f"invalid endpoint {display_endpoint(endpoint) or endpoint!r}: expected an http(s) URL",
            hint="pass --endpoint http://127.0.0.1:PORT (or set HF_ENDPOINT)",
        )
    return endpoint.rstrip("/")


def resolve_explicit(endpoint: str | None, token: str | None) -> tuple[str | None, str | None]:
    """Resolve endpoint and token from options, environment and stored login (no embedded default).

    Returns:
        ``(endpoint, token)``; either may be ``None`` when nothing was configured.

    Example:
        >>> resolve_explicit("http://127.0.0.1:8000", None)[0]
        'http://127.0.0.1:8000'
    """
    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None
    if token is None:
        token = os.environ.get("HF_TOKEN") or None
        if token is None:
            from huggingface_hub import get_token

            token = get_token()
    register_token(token)
    return (_check_endpoint(endpoint) if endpoint else None), token


@contextmanager
def open_target(endpoint: str | None, token: str | None, *, data_dir: str | None = None) -> Iterator[Target]:
    """Yield the Hub to publish to, starting the embedded local hub when nothing is configured.

    Args:
        endpoint: ``--endpoint`` (falls back to ``HF_ENDPOINT``).
        token: ``--token`` (falls back to ``HF_TOKEN``, then the stored login).
        data_dir: data dir of the embedded hub (default: ``hubkit.hub.default_data_dir()``).

    Example:
        >>> with open_target(None, None) as target:  # doctest: +SKIP
        ...     target.embedded
        True
    """
    endpoint, token = resolve_explicit(endpoint, token)
    if endpoint is not None or token is not None:
        yield Target(endpoint=endpoint or _default_endpoint(), token=token, embedded=False)
        return
    from hubkit.errors import LocalHubError
    from hubkit.hub import LocalHub, default_data_dir

    root = Path(data_dir) if data_dir else default_data_dir()
    # Prefer the port `hubkit hub serve` uses by default, so the printed HF_ENDPOINT lines keep working
    # once the user starts the server again; fall back to any free port when it is taken.
    try:
        hub = LocalHub(root, port=EMBEDDED_PORT, token=None).start()
    except LocalHubError:
        hub = LocalHub(root, port=0, token=None).start()
    try:
        yield Target(endpoint=hub.endpoint.rstrip("/"), token=None, embedded=True)
    finally:
        hub.stop()


def _default_endpoint() -> str:
    from huggingface_hub import constants

    return str(constants.ENDPOINT or HF_DEFAULT_ENDPOINT)
