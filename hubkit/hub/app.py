"""The ASGI app of the local hub: raw-path dispatch, auth, body limits and error mapping.

Routing splits ``scope["raw_path"]`` on ``/`` and unquotes each segment, because the client sends
revisions such as ``feat/x`` as ``feat%2Fx`` and a decoded path would split them wrongly
(docs/hub-api-subset.md §0.3). Handlers live in :mod:`hubkit.hub.routes_repo` and
:mod:`hubkit.hub.routes_files` and see a request through :mod:`hubkit.hub.request`; they raise :class:`HubHTTPError` for every refusal, which becomes a
JSON body plus ``X-Error-Code``/``X-Error-Message`` headers. Anything unexpected is logged and answered
as a 500 only when no response was sent yet; handlers validate input first so that bad input never
gets there.
"""

from __future__ import annotations

import functools
import logging
import uuid
from typing import Any

from starlette.requests import ClientDisconnect, Request

from hubkit.hub import routes
from hubkit.hub.faults import FaultInjector, FaultMiddleware, FaultSpec
from hubkit.hub.request import Ctx, HubConfig, HubState, error_response, split_raw_path
from hubkit.hub.storage import Store
from hubkit.hub.validation import HubHTTPError

__all__ = ["HubApp", "HubConfig"]

logger = logging.getLogger("hubkit.hub")


class HubApp:
    """The ASGI callable. ``HubApp(store, config, faults)``; faults may be changed while running.

    Example:
        >>> app = HubApp(Store(tmp), HubConfig(token="t"))  # then serve it with uvicorn
    """

    def __init__(self, store: Store, config: HubConfig, faults: FaultSpec | None = None) -> None:
        self.state = HubState(store, config, FaultInjector(faults))
        self._asgi = FaultMiddleware(self._handle, self.state.faults)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            while message["type"] != "lifespan.shutdown":
                await send({"type": message["type"] + ".complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        observer = self.state.observer
        if observer is not None and scope["type"] == "http":
            observer(scope["method"], (scope.get("raw_path") or scope["path"].encode()).decode("latin-1"))
        if scope["type"] != "http":
            await self._asgi(scope, receive, send)
            return
        request_id = f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}"

        async def send_with_id(message: dict[str, Any]) -> None:
            # Every answer carries an X-Request-Id, as on the Hub (the client quotes it in its errors).
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", request_id.encode())]}
            await send(message)

        await self._asgi(scope, receive, send_with_id)

    async def _handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        try:
            segments = split_raw_path(scope.get("raw_path") or scope["path"].encode())
            handler = routes.dispatch(scope["method"], segments)
            if isinstance(handler, functools.partial) and "repo" in handler.keywords:
                # Repo ids are case-insensitive, as on the Hub: handlers see the stored spelling.
                canonical = self.state.store.canonical(handler.keywords["repo"])
                handler = functools.partial(
                    handler.func, *handler.args, **{**handler.keywords, "repo": canonical}
                )
            response = await handler(Ctx(self.state, request, segments))
        except HubHTTPError as err:
            response = error_response(err)
        except ClientDisconnect:
            return  # the client went away mid-body: nothing was applied, nobody to answer
        except Exception:
            logger.exception("local hub: unexpected error on %s %s", scope["method"], scope.get("path"))
            response = error_response(HubHTTPError(500, "InternalError", "Unexpected server error."))
        await response(scope, receive, send)
