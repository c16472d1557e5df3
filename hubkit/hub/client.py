"""hubkit's side of the Hub client: an ``HfApi`` that identifies hubkit, and bounded-memory uploads.

Large files go through :func:`streaming_add`: a ``CommitOperationAdd`` backed by an open file object.
:class:`HubkitApi` uploads them through **Xet** when ``hf_xet`` is usable (the real Hub's path, with
chunk-level deduplication; see :mod:`hubkit.hub.xet_upload`), reading each file by path in blocks, and
records what each upload cost in :attr:`HubkitApi.transfers`. Without ``hf_xet`` (or with
``HUBKIT_XET=0``) huggingface_hub sends the file objects through the legacy LFS batch path (multipart
PUTs read from the file in slices), never loading the file either.

:func:`with_retries` is the one place where hubkit retries Hub calls. ``huggingface_hub`` retries its LFS
and preupload requests, but ``create_repo``, refs, branch, tag, tree, ``paths-info``, ``repo_info`` and the
commit POST of ``create_commit`` are single tries: one 503 or cut connection would end a publish.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import InitVar, dataclass
from pathlib import Path
from typing import Any, TypeVar

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub._commit_api import _validate_path_in_repo
from huggingface_hub.utils import DEFAULT_IGNORE_PATTERNS, filter_repo_objects

import hubkit
from hubkit.hub import xet_upload
from hubkit.hub.xet_upload import TransferReport
from hubkit.layout import GITATTRIBUTES

logger = logging.getLogger("hubkit.hub.client")
T = TypeVar("T")


def hub_api(endpoint: str | None, token: str | None) -> HubkitApi:
    """An ``HfApi`` for ``endpoint`` (``None``: the client's default) that announces ``hubkit/<version>``.

    Args:
        endpoint: e.g. ``"http://127.0.0.1:8765"``; no trailing slash needed.
        token: bearer token, or ``None`` to let huggingface_hub find one.

    Returns:
        A :class:`HubkitApi` (an ``HfApi`` whose uploads all use :func:`streaming_add`).

    Example:
        >>> api = hub_api(hub.endpoint, hub.token); api.whoami()["name"]
        'localuser'
    """
    return HubkitApi(
        endpoint=endpoint.rstrip("/") if endpoint else None,
        token=token,
        library_name="hubkit",
        library_version=hubkit.__version__,
    )


@dataclass
class _StreamingAdd(CommitOperationAdd):
    """A ``CommitOperationAdd`` over an open file object; closes it when garbage-collected.

    With ``known_sha256`` / ``known_size`` the upload info is taken as given instead of being computed
    by reading the whole file again (huggingface_hub hashes file objects eagerly).
    """

    known_sha256: InitVar[str | None] = None
    known_size: InitVar[int | None] = None

    def __post_init__(self, known_sha256: str | None, known_size: int | None) -> None:
        if known_sha256 is None or known_size is None:
            super().__post_init__()
            return
        from huggingface_hub.lfs import UploadInfo

        self.path_in_repo = _validate_path_in_repo(self.path_in_repo)
        handle: Any = self.path_or_fileobj
        size = os.fstat(handle.fileno()).st_size
        if size != known_size:  # the file changed after it was hashed: its hash cannot be trusted
            raise ValueError(f"{handle.name}: {size} bytes on disk, but {known_size} were hashed")
        sample = handle.read(512)
        handle.seek(0)
        self.upload_info = UploadInfo(size=known_size, sample=sample, sha256=bytes.fromhex(known_sha256))

    def __del__(self) -> None:
        fileobj: Any = self.path_or_fileobj
        if hasattr(fileobj, "close"):
            fileobj.close()


def streaming_add(
    path_in_repo: str, local_path: Path, *, sha256: str | None = None, size: int | None = None
) -> CommitOperationAdd:
    """A commit operation that uploads ``local_path`` without reading it into memory.

    Use it with ``hub_api(...).create_commit(...)``: :class:`HubkitApi` uploads it through Xet (hf_xet
    reads the file by path in blocks), or, without Xet, huggingface_hub sends the file object through
    the LFS batch path in multipart slices. The file stays open until the operation is garbage-collected.

    When the caller already knows the file's sha256 (hubkit's conversion hashes while writing), pass it
    with ``size``: the file is then not read a second time to hash it. A wrong hash cannot slip through:
    the Hub checks every upload against its declared sha256 and refuses a mismatch.

    Args:
        path_in_repo: destination path in the repo, e.g. ``"model.safetensors"``.
        local_path: the local file.
        sha256: hex sha256 of the file's content, when known (needs ``size``).
        size: its size in bytes; a file of another size on disk raises ``ValueError``.

    Returns:
        A ``CommitOperationAdd`` whose ``path_or_fileobj`` is an open binary file.

    Example:
        >>> api.create_commit(repo_id, operations=[streaming_add("model.safetensors", Path("m.safetensors"))],
        ...                   commit_message="weights")
    """
    if (sha256 is None) != (size is None):
        raise ValueError("streaming_add: pass sha256 and size together")
    handle = open(Path(local_path), "rb")  # noqa: SIM115 (owned by the operation)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _StreamingAdd(path_in_repo, handle, known_sha256=sha256, known_size=size)
    except BaseException:
        handle.close()
        raise


def _streaming(operations: Any) -> list[Any]:
    out = []
    for op in operations:
        if isinstance(op, CommitOperationAdd) and isinstance(op.path_or_fileobj, str | Path):
            op = streaming_add(op.path_in_repo, Path(op.path_or_fileobj))
        out.append(op)
    return out


class HubkitApi(HfApi):
    """``HfApi`` whose ``create_commit``/``upload_file``/``upload_folder`` upload with bounded memory.

    Every path-based add becomes a :func:`streaming_add`. LFS-mode files then go through Xet
    (:mod:`hubkit.hub.xet_upload`) when it is enabled, else through the LFS batch path that
    huggingface_hub takes for file objects. ``transfers`` maps the sha256 of each file sent through Xet
    to its :class:`TransferReport` (its bytes, those the Hub already had, those sent).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.transfers: dict[str, TransferReport] = {}
        self._transfers_lock = threading.Lock()

    def create_commit(self, repo_id: str, operations: Any, *args: Any, **kwargs: Any) -> Any:
        return super().create_commit(repo_id, _streaming(operations), *args, **kwargs)

    def preupload_lfs_files(
        self,
        repo_id: str,
        additions: Any,
        *,
        token: str | bool | None = None,
        repo_type: str | None = None,
        revision: str | None = None,
        create_pr: bool | None = None,
        num_threads: int = 5,
        free_memory: bool = True,
        gitignore_content: str | None = None,
    ) -> None:
        """Upload the LFS-mode files of ``additions`` (Xet first, when enabled), as HfApi's does."""
        additions = list(additions)
        if xet_upload.xet_enabled():
            self._xet_preupload(
                repo_id, additions, token, repo_type, revision, bool(create_pr), gitignore_content
            )
        super().preupload_lfs_files(
            repo_id,
            additions,
            token=token,
            repo_type=repo_type,
            revision=revision,
            create_pr=create_pr,
            num_threads=num_threads,
            free_memory=free_memory,
            gitignore_content=gitignore_content,
        )

    def _xet_preupload(
        self,
        repo_id: str,
        additions: list[Any],
        token: str | bool | None,
        repo_type: str | None,
        revision: str | None,
        create_pr: bool,
        gitignore_content: str | None,
    ) -> None:
        from urllib.parse import quote

        from huggingface_hub._commit_api import _fetch_upload_modes

        repo_type = repo_type or "model"
        quoted = quote(revision, safe="") if revision is not None else "main"
        pending = [a for a in additions if not a._is_uploaded]
        unknown = [a for a in pending if a._upload_mode is None]
        if unknown:
            _fetch_upload_modes(
                additions=unknown,
                repo_type=repo_type,
                repo_id=repo_id,
                headers=self._build_hf_headers(token=token),
                revision=quoted,
                endpoint=self.endpoint,
                create_pr=create_pr,
                gitignore_content=gitignore_content,
            )
        ops = [a for a in pending if a._upload_mode == "lfs" and not a._should_ignore and _local_path(a)]
        with self._transfers_lock:
            sent_before = [op for op in ops if op.upload_info.sha256.hex() in self.transfers]
        for op in sent_before:  # e.g. weights uploaded ahead of their commit: the Hub holds them already
            op._is_uploaded = True
        ops = [op for op in ops if not op._is_uploaded]
        if not ops:
            return
        reports = xet_upload.upload_files(
            self,
            repo_id,
            [(_local_path(op) or "", op.upload_info.sha256.hex()) for op in ops],
            repo_type=repo_type,
            revision=quoted,
            create_pr=create_pr,
            token=token,
        )
        for op in ops:
            op._is_uploaded = True
        with self._transfers_lock:
            self.transfers.update(reports)


def _local_path(op: Any) -> str | None:
    """The local file behind an add (a path, or a streaming add's open file), None for bytes."""
    target = op.path_or_fileobj
    if isinstance(target, str | Path):
        return str(target)
    name = getattr(target, "name", None)
    return name if isinstance(name, str) and os.path.isfile(name) else None

    def upload_folder(
        self,
        *,
        repo_id: str,
        folder_path: str | Path,
        path_in_repo: str | None = None,
        commit_message: str | None = None,
        commit_description: str | None = None,
        token: str | bool | None = None,
        repo_type: str | None = None,
        revision: str | None = None,
        create_pr: bool | None = None,
        parent_commit: str | None = None,
        allow_patterns: list[str] | str | None = None,
        ignore_patterns: list[str] | str | None = None,
        delete_patterns: list[str] | str | None = None,
    ) -> Any:
        """Like ``HfApi.upload_folder`` but as one streaming ``create_commit`` (no Xet pipeline)."""
        folder = Path(folder_path).expanduser().resolve()
        if not folder.is_dir():
            raise ValueError(f"Provided path: '{folder}' is not a directory")
        ignore = [ignore_patterns] if isinstance(ignore_patterns, str) else list(ignore_patterns or [])
        files = {p.relative_to(folder).as_posix(): p for p in sorted(folder.glob("**/*")) if p.is_file()}
        keep = filter_repo_objects(
            files, allow_patterns=allow_patterns, ignore_patterns=ignore + DEFAULT_IGNORE_PATTERNS
        )
        prefix = f"{path_in_repo.strip('/')}/" if path_in_repo else ""
        adds = [streaming_add(prefix + rel, files[rel]) for rel in keep]
        deletes: list[Any] = []
        if delete_patterns:
            added = {op.path_in_repo for op in adds}
            remote = self.list_repo_files(repo_id, repo_type=repo_type, revision=revision, token=token)
            under = [f.removeprefix(prefix) for f in remote if f.startswith(prefix) and f != GITATTRIBUTES]
            deletes = [
                CommitOperationDelete(prefix + rel)
                for rel in filter_repo_objects(under, allow_patterns=delete_patterns)
                if prefix + rel not in added
            ]
        return self.create_commit(
            repo_id,
            deletes + adds,
            commit_message=commit_message or "Upload folder using hubkit",
            commit_description=commit_description,
            token=token,
            repo_type=repo_type,
            revision=revision,
            create_pr=create_pr,
            parent_commit=parent_commit,
        )


# --- retries -----------------------------------------------------------------------------------------
# Statuses that say "try again later" (the Hub's own list in huggingface_hub's http_backoff, minus 408).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How :func:`with_retries` waits: exponential backoff, or the server's ``Retry-After`` when given."""

    attempts: int = 6  # tries in all, the first included
    base_wait: float = 0.5  # seconds before the second try; doubled for each further one
    max_wait: float = 8.0  # cap of one backoff wait
    max_retry_after: float = 60.0  # cap of a server-announced wait


DEFAULT_RETRY = RetryPolicy()


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is worth retrying: 429/5xx answers, cut or refused connections, timeouts.

    Example:
        >>> is_transient(ConnectionResetError()), is_transient(ValueError())
        (True, False)
    """
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    from hubkit.errors import HubkitError

    if isinstance(exc, HubkitError):
        return False  # already judged by hubkit (HubError is a ConnectionError, but a final one)
    if isinstance(exc, HfHubHTTPError):
        response = exc.response
        return response is not None and response.status_code in RETRY_STATUSES
    return isinstance(exc, httpx2.TransportError | ConnectionError | TimeoutError)


def _retry_after(exc: BaseException, cap: float) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return min(float(value), cap) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to backoff


def with_retries(
    fn: Callable[..., T],
    *args: Any,
    what: str = "Hub call",
    policy: RetryPolicy = DEFAULT_RETRY,
    **kwargs: Any,
) -> T:
    """Call ``fn(*args, **kwargs)``, retrying transient failures (:func:`is_transient`) with backoff.

    Safe for writes when the caller makes them so. hubkit sends every commit with its parent commit, so a
    repeated commit POST can never stack a duplicate: the local hub answers it with the commit it already
    made (and applies nothing before a 5xx/429); another Hub answers 412, which stops the publish and a
    re-run completes it. Branch and tag writes check the refs when a retry gets 409/404
    (:class:`hubkit.publish.remote.Remote`).

    Args:
        fn: the call, e.g. ``api.create_branch``.
        what: words for the log line ("creating branch epoch-004").
        policy: attempts and waits.

    Returns:
        What ``fn`` returns; the last error is raised unchanged when every attempt failed.

    Example:
        >>> refs = with_retries(api.list_repo_refs, "org/name", what="listing branches")  # doctest: +SKIP
    """
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if attempt >= policy.attempts or not is_transient(exc):
                raise
            wait = _retry_after(exc, policy.max_retry_after)
            if wait is None:
                wait = min(policy.max_wait, policy.base_wait * 2 ** (attempt - 1))
            # Logged through hubkit's redacting filter; the message names the call, never its arguments.
            logger.info(
                "%s: %s; retry %d/%d in %.1fs", what, type(exc).__name__, attempt, policy.attempts - 1, wait
            )
            time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
