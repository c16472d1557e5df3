"""Which files of an upload go to LFS, and which are ignored: the Hub's ``/preupload`` rules.

The Hub decides per file (``huggingface_hub`` only follows its answer):

- ``shouldIgnore``: the path matches the ``.gitignore`` sent in the request (``gitIgnore``), else the
  ``.gitignore`` of the revision. The client then drops the file from the commit.
- ``uploadMode: "lfs"``: the path matches an LFS filter of the revision's ``.gitattributes``
  (``*.png filter=lfs ...``), or the default LFS suffixes, or the file is large (10 MiB), or its sample
  (the first 512 bytes, base64) is binary: git on the Hub refuses binary blobs outside LFS.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import pathspec

from hubkit.hub.storage import Commit, Store, is_lfs_file

MAX_RULES_FILE = 256 * 1024  # a .gitignore / .gitattributes larger than this is not read


def _read_small(store: Store, commit: Commit, path: str) -> str | None:
    entry = commit.files.get(path)
    if entry is None or entry.size > MAX_RULES_FILE:
        return None
    return b"".join(store.iter_content(entry.sha256)).decode("utf-8", "replace")


def lfs_filter_lines(gitattributes: str) -> list[str]:
    """The patterns of a ``.gitattributes`` that carry ``filter=lfs``.

    Example:
        >>> lfs_filter_lines("*.png filter=lfs diff=lfs merge=lfs -text\\n*.txt text\\n")
        ['*.png']
    """
    out = []
    for line in gitattributes.splitlines():
        parts = line.split()
        if len(parts) >= 2 and not parts[0].startswith("#") and "filter=lfs" in parts[1:]:
            out.append(parts[0])
    return out


def is_binary_sample(sample_b64: object) -> bool:
    """Whether a preupload sample (base64 of the first 512 bytes) looks binary (holds a NUL byte).

    Example:
        >>> is_binary_sample(base64.b64encode(b"\\x89PNG\\x00").decode()), is_binary_sample("aGk=")
        (True, False)
    """
    if not isinstance(sample_b64, str):
        return False
    try:
        return b"\x00" in base64.b64decode(sample_b64, validate=True)
    except (binascii.Error, ValueError):
        return False


@dataclass(frozen=True)
class UploadRules:
    """The rules of one preupload request: built once, asked per file."""

    ignore: pathspec.PathSpec | None  # from the request's gitIgnore or the revision's .gitignore
    lfs: pathspec.PathSpec  # LFS filters of the revision's .gitattributes

    @classmethod
    def for_request(cls, store: Store, commit: Commit, gitignore: object) -> UploadRules:
        text = gitignore if isinstance(gitignore, str) else _read_small(store, commit, ".gitignore")
        ignore = pathspec.GitIgnoreSpec.from_lines(text.splitlines()) if text else None
        attributes = _read_small(store, commit, ".gitattributes") or ""
        return cls(ignore, pathspec.GitIgnoreSpec.from_lines(lfs_filter_lines(attributes)))

    def should_ignore(self, path: str) -> bool:
        return self.ignore is not None and self.ignore.match_file(path)

    def is_lfs(self, path: str, size: int, sample: object) -> bool:
        return is_lfs_file(path, size) or (
            size > 0 and (self.lfs.match_file(path) or is_binary_sample(sample))
        )
