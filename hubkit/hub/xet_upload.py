"""hubkit's uploads through Xet, the real Hub's large-file path, with the deduplication it achieved.

huggingface_hub sends path-based adds through ``hf_xet`` but keeps hf_xet's report to itself. hubkit
drives the same ``hf_xet`` session API (``new_upload_commit`` / ``start_upload_file``, with the token
refresh route huggingface_hub uses) so that every upload reports how many bytes the Hub already had
(:class:`TransferReport`). hf_xet reads the files by path in blocks: memory stays bounded. The files'
sha256 (known from conversion) is passed in, so no file is read twice.

The LFS batch route (file objects, see :mod:`hubkit.hub.client`) remains the fallback when ``hf_xet``
is missing, when ``HF_HUB_DISABLE_XET=1``, or when ``HUBKIT_XET=0``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hubkit.errors import HubError

XET_SWITCH = "HUBKIT_XET"  # "0" sends hubkit's uploads through the LFS batch API instead


@dataclass(frozen=True)
class TransferReport:
    """What uploading some files cost: their size, what the Hub already held, what had to be sent."""

    files: int  # files uploaded
    total_bytes: int  # their content bytes
    deduplicated_bytes: int  # content bytes whose chunks the Hub (or this upload) already held
    new_bytes: int  # content bytes sent (in xorbs, compressed where that helps)

    def __add__(self, other: TransferReport) -> TransferReport:
        return TransferReport(
            self.files + other.files,
            self.total_bytes + other.total_bytes,
            self.deduplicated_bytes + other.deduplicated_bytes,
            self.new_bytes + other.new_bytes,
        )

    @property
    def deduplicated_fraction(self) -> float:
        """Share of the content the Hub already had (0.0 for nothing uploaded).

        Example:
            >>> TransferReport(1, 100, 90, 10).deduplicated_fraction
            0.9
        """
        return self.deduplicated_bytes / self.total_bytes if self.total_bytes else 0.0


NO_TRANSFER = TransferReport(0, 0, 0, 0)


def xet_enabled() -> bool:
    """Whether hubkit uploads through Xet: hf_xet usable and not switched off (``HUBKIT_XET=0``).

    Example:
        >>> os.environ["HUBKIT_XET"] = "0"; xet_enabled()
        False
    """
    if os.environ.get(XET_SWITCH, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    from huggingface_hub.utils._runtime import is_xet_available

    return bool(is_xet_available())


_COMPRESSION_POLICY = "HF_XET_XORB_COMPRESSION_POLICY"
_REFUSAL = re.compile(r"client error \((40[0-9]|41[0-9]|42[0-8])[^)]*\)")  # 4xx but 429


def _no_compression_on_loopback(endpoint: str | None) -> None:
    """Skip chunk compression for a hub on this machine: loopback bytes are free, CPU is not.

    hf_xet tries LZ4 / byte-grouped LZ4 on every chunk, which costs ~40 % of its upload time for float
    weights here. It reads the policy when hubkit's process creates its Xet session; a policy the user
    set is kept, and any other endpoint gets hf_xet's default.
    """
    from urllib.parse import urlsplit

    host = urlsplit(endpoint or "").hostname or ""
    if host in ("127.0.0.1", "localhost", "::1") and _COMPRESSION_POLICY not in os.environ:
        os.environ[_COMPRESSION_POLICY] = "none"


def upload_files(
    api: Any,
    repo_id: str,
    files: Sequence[tuple[str, str | None]],
    *,
    repo_type: str,
    revision: str,
    create_pr: bool,
    token: Any = None,
) -> list[tuple[str, TransferReport]]:
    """Upload local files to the repo's Xet storage; returns each file's sha256 and transfer report.

    Args:
        api: the ``HfApi`` (its endpoint and headers are used, as huggingface_hub does).
        files: ``(local path, sha256 hex or None)`` per file; ``None`` lets hf_xet compute it while chunking.
        revision: the revision as huggingface_hub quotes it in URLs (``quote(rev, safe="")``).

    Example:
        >>> [(sha256, report)] = upload_files(api, "u/r", [("w.safetensors", None)], repo_type="model",
        ...                                   revision="main", create_pr=False)
    """
    import hf_xet
    from huggingface_hub.utils._xet import (
        XetTokenType,
        abort_xet_session,
        get_xet_session,
        xet_connection_info_refresh_url,
        xet_headers_without_auth,
    )

    _no_compression_on_loopback(api.endpoint)
    headers = api._build_hf_headers(token=token)
    refresh_url = xet_connection_info_refresh_url(
        token_type=XetTokenType.WRITE,
        repo_id=repo_id,
        repo_type=repo_type,
        revision=None if create_pr else revision,
        endpoint=api.endpoint,
    )
    if create_pr:
        refresh_url += "?create_pr=1"
    session = get_xet_session()
    commit = session.new_upload_commit(
        token_refresh_url=refresh_url,
        token_refresh_headers=headers,
        custom_headers=xet_headers_without_auth(headers),
        progress_callback=None,
    )
    try:
        handles = [
            commit.start_upload_file(path, sha256=sha256 if sha256 else hf_xet.COMPUTE_SHA256)
            for path, sha256 in files
        ]
        commit.wait_to_finish()
    except KeyboardInterrupt:
        abort_xet_session()
        raise
    except BaseException as exc:
        commit.abort()
        refused = _REFUSAL.search(str(exc))
        if refused:  # hf_xet reports every HTTP error as a ConnectionError: a 4xx is final, not transient
            raise HubError(
                f"The Hub refused the Xet upload ({refused.group(0)}): {exc}",
                hint="Check the token's write access; a refused shard means the files' hashes did not match.",
            ) from exc
        raise
    out = []
    for (path, _), handle in zip(files, handles, strict=True):
        result = handle.result()
        metrics = result.dedup_metrics
        total = os.path.getsize(path)
        deduplicated = min(int(metrics.deduped_bytes), total)
        out.append((result.xet_info.sha256, TransferReport(1, total, deduplicated, total - deduplicated)))
    return out
