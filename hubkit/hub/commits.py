"""Commits: the streaming NDJSON commit-body parser and the atomic application of a commit.

The body of ``POST .../commit/{rev}`` is one JSON object per line. A ``file`` line carries the whole
file as base64 in ``value.content``, so a line can be gigabytes long. :class:`NdjsonCommitParser` never
holds a whole line: outside ``content`` it buffers at most :data:`MAX_LINE` bytes; inside ``content``
it base64-decodes chunk by chunk into a temp file while hashing (sha256), then stores the object.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from hubkit.hub.storage import Commit, FileEntry, RepoRef, Store
from hubkit.hub.validation import HubHTTPError, bad_request, check_path, check_sha256

MAX_LINE = 1024 * 1024  # any NDJSON line without its base64 content must fit in this
_CONTENT_RE = re.compile(rb'"content"\s*:\s*"')
_DECODE_BATCH = 1 << 20
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


@dataclass
class ParsedCommit:
    """What a commit body asks for; ``file`` contents wait in temp files until the commit is applied."""

    summary: str = ""
    description: str = ""
    parent_commit: str | None = None
    adds: dict[str, tuple[str, int]] = field(default_factory=dict)  # path -> (sha256, size)
    lfs_paths: set[str] = field(default_factory=set)  # added through ``lfsFile`` lines: LFS files
    deleted_files: list[str] = field(default_factory=list)
    deleted_folders: list[str] = field(default_factory=list)
    digest: str = ""  # hash of what the request asks for (a repeated POST has the same digest)
    # (temp file, sha256) of each ``file`` line: adopted into the object store only when the commit is
    # applied, so a refused commit (bad line, 412, missing file to delete) leaves the store unchanged.
    pending: list[tuple[Path, str]] = field(default_factory=list)

    def discard(self) -> None:
        """Delete the temp files that were not adopted."""
        for tmp, _ in self.pending:
            tmp.unlink(missing_ok=True)
        self.pending.clear()


class _ContentSink:
    """Streams base64 text into a temp file: decode in 4-char groups, hash, write."""

    def __init__(self, store: Store) -> None:
        self.path = store.temp_path("b64-")
        self.file: BinaryIO = open(self.path, "wb")  # noqa: SIM115 (closed in finish/abort)
        self.sha = hashlib.sha256()
        self.size = 0
        self.pending = bytearray()
        self.padded = False

    def feed(self, text: bytes) -> None:
        if not text:
            return
        # bytes.translate + a2b_base64 run at memory speed; a regex or strict mode costs 5x more.
        if self.padded or text.translate(None, _B64_ALPHABET):
            raise bad_request("A 'file' line has a 'content' that is not base64.", "InvalidCommitBody")
        self.pending += text
        if len(self.pending) >= _DECODE_BATCH:  # a2b_base64 is ~1.5x faster on 1 MiB than on 64 KiB
            self._flush()

    def _flush(self) -> None:
        cut = len(self.pending) - len(self.pending) % 4
        if cut:
            self._write(bytes(self.pending[:cut]))
            del self.pending[:cut]

    def _write(self, b64: bytes) -> None:
        if b"=" in b64:
            # padding is only legal in the very last group of the value
            if b64.index(b"=") < len(b64) - 2 or not b64.endswith(b"="):
                raise bad_request("A 'file' line has misplaced base64 padding.", "InvalidCommitBody")
            self.padded = True
        try:
            raw = binascii.a2b_base64(b64)
        except (binascii.Error, ValueError):
            raise bad_request(
                "A 'file' line has a 'content' that is not base64.", "InvalidCommitBody"
            ) from None
        self.sha.update(raw)
        self.size += len(raw)
        self.file.write(raw)

    def finish(self) -> tuple[Path, str, int]:
        self._flush()
        if self.pending:
            raise bad_request("A 'file' line has truncated base64 content.", "InvalidCommitBody")
        self.file.close()
        return self.path, self.sha.hexdigest(), self.size

    def abort(self) -> None:
        self.file.close()
        self.path.unlink(missing_ok=True)


class NdjsonCommitParser:
    """Incremental parser of a commit body; feed chunks, then call :meth:`close`.

    Example:
        >>> parser = NdjsonCommitParser(store)
        >>> parser.feed(b'{"key": "header", "value": {"summary": "x"}}\\n'); parsed = parser.close()
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.result = ParsedCommit()
        self.line_no = 0
        self.buf = b""  # current line outside content
        self.prefix: bytes | None = None  # part of the line before "content": when streaming content
        self.sink: _ContentSink | None = None
        self.after_content = False
        self.stored: list[tuple[Path, str]] = []

    def feed(self, chunk: bytes) -> None:
        while chunk:
            if self.sink is not None and not self.after_content:
                end = chunk.find(b'"')
                if end < 0:
                    self.sink.feed(chunk)
                    return
                self.sink.feed(chunk[:end])
                chunk = chunk[end + 1 :]
                self.after_content = True
                self.buf = b""
                continue
            newline = chunk.find(b"\n")
            piece, chunk = (chunk, b"") if newline < 0 else (chunk[:newline], chunk[newline + 1 :])
            self.buf += piece
            if not self.after_content:
                match = _CONTENT_RE.search(self.buf)
                if match:
                    # Start streaming the base64 value; the rest of `buf` is content data.
                    self.prefix = self.buf[: match.start()]
                    rest = self.buf[match.end() :]
                    self.buf = b""
                    self.sink = _ContentSink(self.store)
                    chunk = rest + (b"\n" + chunk if newline >= 0 else chunk)
                    continue
            if len(self.buf) > MAX_LINE:
                raise HubHTTPError(
                    413, "PayloadTooLarge", f"Commit body line {self.line_no + 1} is too long."
                )
            if newline >= 0:
                self._end_line()

    def _end_line(self) -> None:
        self.line_no += 1
        content: tuple[Path, str, int] | None = None
        if self.prefix is not None:
            assert self.sink is not None
            content = self.sink.finish()
            self.sink = None
            text = self.prefix + b'"content": null' + self.buf
        else:
            text = self.buf
        self.prefix, self.buf, self.after_content = None, b"", False
        if not text.strip():
            if content:
                content[0].unlink(missing_ok=True)
            return
        try:
            line = json.loads(text)
        except (ValueError, UnicodeDecodeError):
            if content:
                content[0].unlink(missing_ok=True)
            raise bad_request(
                f"Commit body line {self.line_no} is not valid JSON.", "InvalidCommitBody"
            ) from None
        try:
            self._handle(line, content)
        except BaseException:
            if content:
                content[0].unlink(missing_ok=True)
            raise

    def _handle(self, line: Any, content: tuple[Path, str, int] | None) -> None:
        if not isinstance(line, dict) or not isinstance(line.get("value"), dict):
            raise bad_request(
                f"Commit body line {self.line_no} must be {{'key', 'value'}}.", "InvalidCommitBody"
            )
        key, value = line.get("key"), line["value"]
        if self.line_no == 1 and key != "header":
            raise bad_request("The first line of a commit body must be the header.", "InvalidCommitBody")
        if key == "header":
            self._header(value)
        elif key == "file":
            path = check_path(value.get("path"))
            if content is None or value.get("encoding", "base64") != "base64":
                raise bad_request(f"'file' line for {path} needs base64 'content'.", "InvalidCommitBody")
            tmp, sha256, size = content
            self.result.pending.append((tmp, sha256))
            self._add(path, sha256, size)
        elif key == "lfsFile":
            path = check_path(value.get("path"))
            oid = check_sha256(value.get("oid"))
            if value.get("algo", "sha256") != "sha256":
                raise bad_request(f"'lfsFile' {path}: only sha256 is supported.", "InvalidCommitBody")
            stored = self.store.object_size(oid)
            if stored is None:
                raise bad_request(f"LFS object {oid} for {path} was never uploaded.", "LfsObjectNotFound")
            if "size" in value and value["size"] != stored:
                raise bad_request(f"LFS object {oid} for {path}: size does not match.", "LfsSizeMismatch")
            self._add(path, oid, stored)
            self.result.lfs_paths.add(path)
        elif key == "deletedFile":
            self.result.deleted_files.append(check_path(value.get("path")))
        elif key == "deletedFolder":
            path = value.get("path")
            self.result.deleted_folders.append(
                check_path(path.rstrip("/") if isinstance(path, str) else path)
            )
        else:
            raise bad_request(
                f"Unknown commit operation {key!r} on line {self.line_no}.", "InvalidCommitBody"
            )

    def _header(self, value: dict[str, Any]) -> None:
        if self.line_no != 1:
            raise bad_request("The commit header must be the first line only.", "InvalidCommitBody")
        summary, description = value.get("summary"), value.get("description", "")
        parent = value.get("parentCommit")
        if not isinstance(summary, str) or not summary.strip() or not isinstance(description, str | None):
            raise bad_request("The commit header needs a non-empty 'summary'.", "InvalidCommitBody")
        if parent is not None and (
            not isinstance(parent, str) or not re.fullmatch(r"[0-9a-f]{5,40}", parent)
        ):
            raise bad_request(f"Invalid parentCommit {parent!r}.", "InvalidCommitBody")
        self.result.summary, self.result.description, self.result.parent_commit = (
            summary,
            description or "",
            parent,
        )

    def _add(self, path: str, sha256: str, size: int) -> None:
        self.result.adds[path] = (sha256, size)

    def close(self) -> ParsedCommit:
        """Finish parsing (a last line without ``\\n`` is accepted) and return the parsed commit."""
        if self.sink is not None and not self.after_content:
            raise bad_request("The commit body ends inside a 'content' string.", "InvalidCommitBody")
        if self.buf.strip() or self.prefix is not None:
            self._end_line()
        if self.line_no == 0 or not self.result.summary:
            raise bad_request("Empty commit body: a header line is required.", "InvalidCommitBody")
        r = self.result
        what = [
            r.summary,
            r.description,
            r.parent_commit,
            sorted(r.adds.items()),
            r.deleted_files,
            r.deleted_folders,
        ]
        r.digest = hashlib.sha256(json.dumps(what).encode()).hexdigest()
        return r

    def abort(self) -> None:
        """Drop the temp file of a line in progress (client gone, or a bad line)."""
        if self.sink is not None:
            self.sink.abort()
            self.sink = None


async def parse_commit_body(store: Store, stream: AsyncIterator[bytes]) -> ParsedCommit:
    """Parse a commit body from an async byte stream (``request.stream()``) with bounded memory."""
    parser = NdjsonCommitParser(store)
    try:
        async for chunk in stream:
            parser.feed(chunk)
        return parser.close()
    except BaseException:
        parser.result.discard()
        raise
    finally:
        parser.abort()


def apply_commit(
    store: Store,
    repo: RepoRef,
    branch: str,
    parsed: ParsedCommit,
    author: str,
    *,
    new_ref: Callable[[str], str] | None = None,
) -> Commit:
    """Apply a parsed commit to ``branch`` atomically; the branch moves only if everything checks.

    ``new_ref``: the commit goes to a new ref instead (a pull request's ``refs/pr/N``), which the function
    (given ``branch``'s head) names and records under the repo's lock, once the commit is known to apply;
    ``branch`` stays.

    A stale ``parentCommit`` gives 412 and leaves the branch as it was. A POST repeated after a lost
    response (same request digest as the head, and re-applying it would change nothing) returns the
    head it already made instead of stacking an empty duplicate commit.
    """
    with store.lock(repo):
        try:
            head = _head(store, repo, branch)
            if new_ref is None and head.digest == parsed.digest and _is_retry_of(head, parsed, store, repo):
                return head
            if parsed.parent_commit and not head.id.startswith(parsed.parent_commit):
                raise HubHTTPError(
                    412,
                    "ParentCommitMismatch",
                    ("The branch was updated since you opened this page. Please refresh and try again."),
                )
            _new_paths(head.files, parsed)  # refusals (missing deletes, file/folder clash) before storing
            for tmp, sha256 in parsed.pending:
                store.adopt_object(tmp, sha256)
            parsed.pending.clear()
        finally:
            parsed.discard()
        refs = store.read_refs(repo)
        files = _new_files(store, head.files, parsed)
        commit = store.new_commit(
            (head.id,), parsed.summary, parsed.description, author, files, digest=parsed.digest
        )
        store.write_commit(repo, commit)
        refs["branches"][new_ref(head.id) if new_ref is not None else branch] = commit.id
        store.write_refs(repo, refs)
        return commit


def _head(store: Store, repo: RepoRef, branch: str) -> Commit:
    refs = store.read_refs(repo)
    if branch not in refs["branches"]:
        raise HubHTTPError(404, "RevisionNotFound", f"Branch {branch!r} not found in {repo.repo_id}.")
    return store.read_commit(repo, refs["branches"][branch])


def _new_paths(files: dict[str, FileEntry], parsed: ParsedCommit) -> None:
    """Raise what :func:`_new_files` would raise, from paths alone (nothing stored or read)."""
    paths = set(files)
    for path in parsed.deleted_files:
        under = {p for p in paths if p.startswith(path + "/")}
        if path not in paths and not under:
            raise HubHTTPError(404, "EntryNotFound", f"A file with this name doesn't exist: {path}")
        paths.discard(path)
        paths -= under  # a folder named without its trailing "/" is deleted, as on the Hub
    for folder in parsed.deleted_folders:
        under = {p for p in paths if p.startswith(folder + "/")}
        if not under:
            raise HubHTTPError(404, "EntryNotFound", f"A folder with this name doesn't exist: {folder}")
        paths -= under
    _check_no_file_dir_clash(dict.fromkeys(paths | parsed.adds.keys()))


def _is_retry_of(head: Commit, parsed: ParsedCommit, store: Store, repo: RepoRef) -> bool:
    parent = parsed.parent_commit
    try:
        if not parent:
            # Without a parent a repeat cannot be told from a new request: only a no-op counts as a retry
            # (a second delete of the same file stays a 404).
            return _new_files(store, head.files, parsed) == head.files
        if not (head.parents and head.parents[0].startswith(parent)):
            return False
        # With a parent the head is this request's result when applying it to that parent gives the head's
        # files (re-applying it to the head would fail for deletes: the files are already gone).
        return _new_files(store, store.read_commit(repo, head.parents[0]).files, parsed) == head.files
    except HubHTTPError:
        return False


def _new_files(store: Store, files: dict[str, FileEntry], parsed: ParsedCommit) -> dict[str, FileEntry]:
    files = dict(files)
    for path in parsed.deleted_files:
        under = [p for p in files if p.startswith(path + "/")]
        if path not in files and not under:
            raise HubHTTPError(404, "EntryNotFound", f"A file with this name doesn't exist: {path}")
        for p in [path, *under] if path in files else under:
            del files[p]
    for folder in parsed.deleted_folders:
        under = [p for p in files if p.startswith(folder + "/")]
        if not under:
            raise HubHTTPError(404, "EntryNotFound", f"A folder with this name doesn't exist: {folder}")
        for p in under:
            del files[p]
    for path, (sha256, size) in parsed.adds.items():
        files[path] = store.make_entry(path, sha256, size, lfs=path in parsed.lfs_paths or None)
    _check_no_file_dir_clash(files)
    return files


def _check_no_file_dir_clash(files: dict[str, Any]) -> None:
    dirs = {p.rsplit("/", i)[0] for p in files for i in range(1, p.count("/") + 1)}
    clash = sorted(dirs & files.keys())
    if clash:
        raise bad_request(f"{clash[0]!r} would be both a file and a folder.", "PathConflict")
