"""Point libraries that call ``hf_hub_download`` without an endpoint at the Hub being verified.

timm's ``hf-hub:`` loader (timm 1.0.31, ``timm/models/_hub.py``) calls ``hf_hub_download`` with neither an
endpoint nor a token. In huggingface_hub 2.4.0 those calls read, at call time:

- ``constants.HUGGINGFACE_CO_URL_TEMPLATE`` (``hf_hub_url`` formats it; built from ``HF_ENDPOINT`` at import),
- ``constants.ENDPOINT`` (xet metadata and the endpoint rewrite in ``hf_hub_url``),
- ``constants.HF_HUB_CACHE`` (when no ``cache_dir`` is passed),
- the token from ``HF_TOKEN`` in ``os.environ`` (``utils._auth.get_token``, read on every request).

Setting ``HF_ENDPOINT`` after import changes nothing, so :func:`hub_session` swaps those module attributes
(and ``HF_TOKEN``) for the duration of a block and restores them after. The swap is process-wide; a lock
makes concurrent sessions in one process wait for each other instead of seeing each other's endpoint.
``_http._HUB_ORIGINS`` (hosts the auth header is forwarded to on redirects) is left alone: redirects to
the same origin keep the header anyway.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_LOCK = threading.RLock()
_URL_TEMPLATE_SUFFIX = "/{repo_id}/resolve/{revision}/{filename}"


@contextmanager
def hub_session(
    endpoint: str | None, token: str | None = None, cache_dir: str | Path | None = None
) -> Iterator[None]:
    """Make endpoint-less ``huggingface_hub`` calls inside the block use ``endpoint``, ``token``, ``cache_dir``.

    Args:
        endpoint: Hub URL such as ``http://127.0.0.1:8123``; None keeps the current one.
        token: sent with every request in the block; None keeps whatever is configured.
        cache_dir: the HF hub cache to read and fill; None keeps the current one.

    Example:
        >>> with hub_session("http://127.0.0.1:8123", None, "/tmp/fresh-cache"):
        ...     model = timm.create_model("hf-hub:org/name@epoch-3", pretrained=True)
    """
    from huggingface_hub import constants

    with _LOCK:
        saved = {
            "ENDPOINT": constants.ENDPOINT,
            "HUGGINGFACE_CO_URL_TEMPLATE": constants.HUGGINGFACE_CO_URL_TEMPLATE,
            "HF_HUB_CACHE": constants.HF_HUB_CACHE,
            "HUGGINGFACE_HUB_CACHE": constants.HUGGINGFACE_HUB_CACHE,
        }
        saved_token = os.environ.get("HF_TOKEN")
        try:
            if endpoint:
                endpoint = endpoint.rstrip("/")
                constants.ENDPOINT = endpoint
                constants.HUGGINGFACE_CO_URL_TEMPLATE = endpoint + _URL_TEMPLATE_SUFFIX
            if cache_dir is not None:
                constants.HF_HUB_CACHE = constants.HUGGINGFACE_HUB_CACHE = str(cache_dir)
            if token:
                os.environ["HF_TOKEN"] = token
            yield
        finally:
            for name, value in saved.items():
                setattr(constants, name, value)
            if token:
                if saved_token is None:
                    os.environ.pop("HF_TOKEN", None)
                else:
                    os.environ["HF_TOKEN"] = saved_token
