"""HTML responses of the pages: the Jinja environment (templates shipped in this package) and the headers
every page carries (a strict Content-Security-Policy: nothing but this hub's stylesheet and images; no
script at all, inline or not)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import HTMLResponse, Response

from hubkit.hub.pages.markdown import pygments_css

HERE = Path(__file__).parent
CSS_URL = "/_pages/pages.css"
CSP = (
    "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'none'; connect-src 'none'; "
    "font-src 'none'; object-src 'none'; frame-src 'none'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["css_url"] = CSS_URL
    return env


def page(template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> Response:
    """Render ``templates/<template>`` into a response with the security headers (no caching: pages may
    show private repos)."""
    html = environment().get_template(template).render(**context)
    return HTMLResponse(
        html, status_code=status, headers={**SECURITY_HEADERS, "Cache-Control": "no-store", **(headers or {})}
    )


@functools.cache
def stylesheet() -> bytes:
    return ((HERE / "static" / "pages.css").read_text() + "\n" + pygments_css() + "\n").encode()


def favicon_response() -> Response:
    return Response(
        (HERE / "static" / "favicon.svg").read_bytes(),
        media_type="image/svg+xml",
        headers={**SECURITY_HEADERS, "Cache-Control": "public, max-age=86400"},
    )


def css_response() -> Response:
    return Response(
        stylesheet(),
        media_type="text/css; charset=utf-8",
        headers={**SECURITY_HEADERS, "Cache-Control": "public, max-age=3600"},
    )
