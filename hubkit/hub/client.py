"""hubkit's side of the Hub client: an ``HfApi`` that identifies hubkit, and bounded-memory uploads.

Large files go through :func:`streaming_add`: a ``CommitOperationAdd`` backed by an open file object.
``huggingface_hub`` sends file objects through the legacy LFS batch path (multipart PUTs read from the
file in slices), never loading the file, and the local hub answers ``"lfs"`` to clients whose
user agent carries ``hubkit/`` (set here). See docs/local-hub.md for why plain clients cannot be
steered that way.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from huggingface_hub import CommitOperationAdd, HfApi

import hubkit


def hub_api(endpoint: str | None, token: str | None) -> HfApi:
    """An ``HfApi`` for ``endpoint`` (``None``: the client's default) that announces ``hubkit/<version>``.

    Args:
        endpoint: e.g. ``"http://127.0.0.1:8765"``; no trailing slash needed.
        token: bearer token, or ``None`` to let huggingface_hub find one.

    Returns:
        A plain ``huggingface_hub.HfApi``.

    Example:
        >>> api = hub_api(hub.endpoint, hub.token); api.whoami()["name"]
        'localuser'
    """
    return HfApi(
        endpoint=endpoint.rstrip("/") if endpoint else None,
        token=token,
        library_name="hubkit",
        library_version=hubkit.__version__,
    )


class _StreamingAdd(CommitOperationAdd):
    """A ``CommitOperationAdd`` over an open file object; closes it when garbage-collected."""

    def __del__(self) -> None:
        fileobj: Any = self.path_or_fileobj
        if hasattr(fileobj, "close"):
            fileobj.close()


def streaming_add(path_in_repo: str, local_path: Path) -> CommitOperationAdd:
    """A commit operation that uploads ``local_path`` without reading it into memory.

    Use it with ``hub_api(...).create_commit(...)``. huggingface_hub hashes the file in chunks and,
    for file objects, uses the LFS batch path (no Xet), uploading multipart slices; the local hub
    streams each part to disk. The file stays open until the operation is garbage-collected.

    Args:
        path_in_repo: destination path in the repo, e.g. ``"model.safetensors"``.
        local_path: the local file.

    Returns:
        A ``CommitOperationAdd`` whose ``path_or_fileobj`` is an open binary file.

    Example:
        >>> api.create_commit(repo_id, operations=[streaming_add("model.safetensors", Path("m.safetensors"))],
        ...                   commit_message="weights")
    """
    handle = open(Path(local_path), "rb")  # noqa: SIM115 (owned by the operation)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _StreamingAdd(path_in_repo=path_in_repo, path_or_fileobj=handle)
