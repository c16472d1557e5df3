"""Fault injection for reliability tests: errors, rate limits, dropped connections, slow answers.

A :class:`FaultSpec` is parsed from a compact string, comma-separated ``key=value`` items::

    rate=0.2,seed=7,kinds=500+503+429+drop+slow,paths=/api/*+/_lfs/*,methods=POST+PUT,delay=0.5,retry_after=1,max=10

``rate``
    probability (0..1) that a matching request gets a fault (default 0: faults off).
``seed``
    seed of the random generator, so a run is reproducible (default 0).
``kinds``
    ``+``-separated choice among ``500``, ``503``, ``429`` (with ``Retry-After``), ``drop`` and ``slow``
    (default all five); each fault picks one uniformly.
``paths``
    ``+``-separated shell globs matched against the raw request path (default ``*``).
``methods``
    ``+``-separated HTTP methods (default all).
``delay``
    seconds a ``slow`` fault waits before answering normally (default 1.0).
``retry_after``
    seconds announced by 429 faults (default 1).
``max``
    stop injecting after this many faults (default unlimited).

When faults happen (this matters for retries):

* ``500``/``503``/``429`` answer *instead of* the real handler: nothing is applied, so retrying a
  mutating request is always safe.
* ``drop`` on a mutating request (POST, PUT, DELETE, PATCH) cuts the connection *before* the handler
  runs (nothing applied). On GET/HEAD it lets the handler answer, forwards the headers and half of the
  first body chunk, then cuts the connection: the client sees a truncated download and must resume.
* ``slow`` only delays; the request is then handled normally.
"""

from __future__ import annotations

import asyncio
import fnmatch
import random
import threading
from dataclasses import dataclass
from typing import Any

from hubkit.errors import InputError

KINDS: tuple[str, ...] = ("500", "503", "429", "drop", "slow")
MUTATING = frozenset({"POST", "PUT", "DELETE", "PATCH"})


class InjectedDrop(Exception):
    """Raised inside the server to cut a connection on purpose (its log record is filtered out)."""


@dataclass(frozen=True)
class FaultSpec:
    """What faults to inject, where and how often (see the module docstring for the string form).

    Example:
        >>> FaultSpec.parse("rate=0.5,seed=1,kinds=503+drop").kinds
        ('503', 'drop')
    """

    rate: float = 0.0  # 0.2 = one request in five
    seed: int = 0  # 7
    kinds: tuple[str, ...] = KINDS  # ("500", "drop")
    paths: tuple[str, ...] = ("*",)  # ("/api/*", "/_lfs/*")
    methods: tuple[str, ...] = ()  # ("POST",); empty = any method
    delay: float = 1.0  # seconds, for "slow"
    retry_after: int = 1  # seconds, for "429"
    max_faults: int | None = None  # 10; None = no limit

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """Parse ``"rate=0.2,seed=7,kinds=500+drop"``; raises :class:`InputError` on a bad item."""
        values: dict[str, Any] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, sep, value = item.partition("=")
            try:
                if not sep:
                    raise ValueError("missing '='")
                if key == "rate":
                    values["rate"] = float(value)
                    if not 0.0 <= values["rate"] <= 1.0:
                        raise ValueError("rate must be within 0..1")
                elif key == "seed":
                    values["seed"] = int(value)
                elif key == "kinds":
                    kinds = tuple(value.split("+"))
                    unknown = [k for k in kinds if k not in KINDS]
                    if unknown or not kinds:
                        raise ValueError(f"unknown kind(s) {unknown}; choose among {'+'.join(KINDS)}")
                    values["kinds"] = kinds
                elif key == "paths":
                    values["paths"] = tuple(value.split("+"))
                elif key == "methods":
                    values["methods"] = tuple(m.upper() for m in value.split("+"))
                elif key == "delay":
                    values["delay"] = float(value)
                elif key == "retry_after":
                    values["retry_after"] = int(value)
                elif key == "max":
                    values["max_faults"] = int(value)
                else:
                    raise ValueError("unknown key")
            except ValueError as exc:
                raise InputError(
                    f"Bad fault spec item {item!r}: {exc}.",
                    hint="Use e.g. 'rate=0.2,seed=7,kinds=500+503+429+drop+slow,paths=/api/*'.",
                ) from None
        return cls(**values)

    def matches(self, method: str, path: str) -> bool:
        return (not self.methods or method in self.methods) and any(
            fnmatch.fnmatchcase(path, p) for p in self.paths
        )


class FaultInjector:
    """Draws faults for requests from a seeded generator; counts what it injected."""

    def __init__(self, spec: FaultSpec | None) -> None:
        self._lock = threading.Lock()
        self.set(spec)

    def set(self, spec: FaultSpec | None) -> None:
        with self._lock:
            self.spec = spec
            self.rng = random.Random(spec.seed if spec else 0)
            self.injected: list[tuple[str, str, str]] = []  # (kind, method, path)

    def draw(self, method: str, path: str) -> str | None:
        """The fault kind for this request, or None."""
        with self._lock:
            spec = self.spec
            if spec is None or spec.rate <= 0 or not spec.matches(method, path):
                return None
            if spec.max_faults is not None and len(self.injected) >= spec.max_faults:
                return None
            if self.rng.random() >= spec.rate:
                return None
            kind = self.rng.choice(spec.kinds)
            self.injected.append((kind, method, path))
            return kind


class FaultMiddleware:
    """ASGI middleware applying :class:`FaultInjector` decisions before (or around) the app."""

    def __init__(self, app: Any, injector: FaultInjector) -> None:
        self.app = app
        self.injector = injector

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        path = scope.get("raw_path", b"").decode("latin-1") or scope["path"]
        kind = self.injector.draw(method, path)
        if kind is None:
            await self.app(scope, receive, send)
        elif kind == "slow":
            assert self.injector.spec is not None
            await asyncio.sleep(self.injector.spec.delay)
            await self.app(scope, receive, send)
        elif kind in ("500", "503", "429"):
            headers = [(b"content-type", b"application/json"), (b"x-error-code", b"InjectedFault")]
            if kind == "429":
                assert self.injector.spec is not None
                headers.append((b"retry-after", str(self.injector.spec.retry_after).encode()))
            body = b'{"error": "injected fault (hubkit local hub fault injection)"}'
            headers.append((b"content-length", str(len(body)).encode()))
            await send({"type": "http.response.start", "status": int(kind), "headers": headers})
            await send({"type": "http.response.body", "body": body})
        elif method in MUTATING:
            # Cut before the handler runs: announce a body, send a bit, abort the connection.
            start = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]}
            await send(start)
            await send({"type": "http.response.body", "body": b'{"cut', "more_body": True})
            raise InjectedDrop(f"injected drop before {method} {path}")
        else:
            await self.app(scope, receive, _truncating_send(send))


def _truncating_send(send: Any) -> Any:
    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            body = message.get("body", b"")
            if message.get("more_body") or body:
                await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
                raise InjectedDrop("injected drop in the middle of a response body")
        await send(message)

    return wrapped
