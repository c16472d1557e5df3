"""On-disk storage of the local hub: content-addressed objects, commits as JSON, refs files.

Layout under the data dir (stable: tests and tools may read it)::

    objects/ab/cdef…            file contents, named by sha256 (``ab`` = first two hex digits)
    objects/ab/cdef….gitsha1    cached git blob sha1 of that content (computed on demand)
    repos/<type>s/<ns>/<name>/
        repo.json               {"id", "type", "private", "createdAt"}
        refs.json               {"branches": {name: commit}, "tags": {name: commit}}
        commits/<40-hex>.json   {"id", "parents", "title", "message", "date", "author", "files", "digest"}
        lock                    flock target serialising commits of this repo
    tmp/                        uploads in progress (never visible in a repo)
    xet/                        the Xet CAS: xorbs, file reconstructions (see hubkit/hub/xet/cas.py)
    secret                      key signing LFS upload URLs and Xet tokens

Every write is a temp file + fsync + ``os.replace``, so a crash leaves either the old or the new state.
A commit becomes visible only when ``refs.json`` is replaced, after its objects and commit file exist.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hubkit import layout
from hubkit.hashing import git_blob_hasher, git_blob_sha1, git_blob_sha1_file, sha256_bytes
from hubkit.hub.durable import atomic_write, fsync_dir
from hubkit.hub.validation import URL_PREFIXES, HubHTTPError, is_commit_id, repo_not_found
from hubkit.hub.xet.cas import XetStore

DEFAULT_BRANCH = "main"
MOVED = "moved.json"  # left in a moved repo's old dir: {"namespace", "name"} of its new id
MAX_MOVES = 8  # redirects followed from an old id

# Files the Hub stores in LFS by default (its default .gitattributes), plus anything >= 10 MiB.
LFS_SUFFIXES: tuple[str, ...] = (
    ".7z",
    ".arrow",
    ".bin",
    ".bz2",
    ".ckpt",
    ".ftz",
    ".gz",
    ".h5",
    ".joblib",
    ".mlmodel",
    ".model",
    ".msgpack",
    ".npy",
    ".npz",
    ".onnx",
    ".ot",
    ".parquet",
    ".pb",
    ".pickle",
    ".pkl",
    ".pt",
    ".pth",
    ".rar",
    ".safetensors",
    ".tar",
    ".tflite",
    ".tgz",
    ".wasm",
    ".xz",
    ".zip",
    ".zst",
)
LFS_MIN_SIZE = 10 * 1024 * 1024
GITATTRIBUTES = "".join(f"*{s} filter=lfs diff=lfs merge=lfs -text\n" for s in LFS_SUFFIXES).encode()


def now_iso() -> str:
    """The current UTC time as the Hub writes it (millisecond precision, trailing ``Z``).

    Example:
        >>> now_iso().endswith("Z")
        True
    """
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def is_lfs_file(path: str, size: int) -> bool:
    """Whether a file is presented as an LFS file (pointer oid, ``lfs`` block, ``X-Linked-Etag``).

    Example:
        >>> is_lfs_file("model.safetensors", 10), is_lfs_file("README.md", 100)
        (True, False)
    """
    return size > 0 and (size >= LFS_MIN_SIZE or path.lower().endswith(LFS_SUFFIXES))


def _casefold_entries(directory: Path, name: str) -> list[str]:
    """The entries of ``directory`` equal to ``name`` ignoring case, the exact one first."""
    try:
        entries = sorted(os.listdir(directory))
    except OSError:
        return []
    folded = name.casefold()
    return sorted((e for e in entries if e.casefold() == folded), key=lambda e: e != name)


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer text of an object (its git sha1 is the file's tree ``oid``)."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass(frozen=True)
class RepoRef:
    """A repository of the local hub.

    Example:
        >>> RepoRef("model", "localuser", "tiny-vit").repo_id
        'localuser/tiny-vit'
    """

    type: str  # "model", "dataset", "space" or "kernel"
    namespace: str  # "localuser"
    name: str  # "tiny-vit"

    @property
    def repo_id(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def url_path(self) -> str:
        """The web path of the repo (``datasets/u/x`` for a dataset, ``u/x`` for a model)."""
        return f"{URL_PREFIXES[self.type]}{self.repo_id}"


@dataclass(frozen=True)
class FileEntry:
    """One file of a commit."""

    path: str  # "model.safetensors"
    sha256: str  # 64 hex, names the object
    size: int  # 20971600
    lfs: bool  # presented as an LFS file
    sha1: str  # git blob id of the content (regular) or of the pointer (LFS): the tree "oid"


@dataclass(frozen=True)
class Commit:
    """A commit: the full file list (no trees; repos here are small), first parent first."""

    id: str  # 40 hex
    parents: tuple[str, ...]  # ("2d0a…",) or () for the initial commit
    title: str  # "Upload folder"
    message: str  # "" or the description
    date: str  # "2026-01-01T00:00:00.000Z"
    author: str  # "localuser"
    files: dict[str, FileEntry]  # path -> entry
    digest: str  # hash of the request that produced it (duplicate POSTs return this commit)


class Store:
    """The data dir of a local hub. Thread-safe; commits of one repo are serialised by :meth:`lock`.

    Example:
        >>> store = Store(Path("/tmp/hub")); store.object_path("ab" + "0" * 62).name
        '000000000000000000000000000000000000000000000000000000000000'
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        for sub in ("objects", "repos", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._locks: dict[Path, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self.secret = self._load_secret()
        self.xet = XetStore(self.root / "xet")  # contents uploaded through Xet live there, by sha256

    def _load_secret(self) -> bytes:
        path = self.root / "secret"
        if not path.exists():
            data = secrets.token_hex(32).encode()
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o600)
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)  # first writer wins if two servers start at once
            os.unlink(tmp)
        return path.read_bytes().strip()

    # --- objects ---------------------------------------------------------------------------------
    def object_path(self, sha256: str) -> Path:
        return self.root / "objects" / sha256[:2] / sha256[2:]

    def has_object(self, sha256: str) -> bool:
        return self.object_path(sha256).is_file()

    def object_size(self, sha256: str) -> int | None:
        """Size of the content with that sha256, stored as an object or in the Xet CAS."""
        try:
            return self.object_path(sha256).stat().st_size
        except OSError:
            stored = self.xet.file_for_sha256(sha256)
            return stored.size if stored is not None else None

    def iter_content(self, sha256: str) -> Iterator[bytes]:
        """The bytes of a stored content, from the object store or reconstructed from the Xet CAS."""
        path = self.object_path(sha256)
        if not path.is_file() and (stored := self.xet.file_for_sha256(sha256)) is not None:
            yield from self.xet.iter_file(stored)
            return
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                yield chunk

    def temp_path(self, prefix: str = "up-") -> Path:
        """A fresh path under ``tmp/`` for an upload in progress."""
        fd, name = tempfile.mkstemp(dir=self.root / "tmp", prefix=prefix)
        os.close(fd)
        return Path(name)

    def adopt_object(self, tmp: Path, sha256: str) -> None:
        """Move a fully written and hashed temp file into the object store (or drop it if known)."""
        target = self.object_path(sha256)
        if target.exists():
            tmp.unlink(missing_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)

    def content_sha1(self, sha256: str) -> str:
        """Git blob sha1 of an object's content, cached next to it (a second read pass, done once)."""
        cache = self.object_path(sha256).with_name(self.object_path(sha256).name + ".gitsha1")
        with contextlib.suppress(OSError):
            return cache.read_text().strip()
        if self.object_path(sha256).is_file():
            sha1 = git_blob_sha1_file(self.object_path(sha256))
        else:  # content uploaded through Xet: hash it while reconstructing
            size = self.object_size(sha256)
            if size is None:
                raise FileNotFoundError(f"no stored content with sha256 {sha256}")
            h = git_blob_hasher(size)
            for chunk in self.iter_content(sha256):
                h.update(chunk)
            sha1 = h.hexdigest()
        atomic_write(cache, sha1.encode())
        return sha1

    def make_entry(self, path: str, sha256: str, size: int, *, lfs: bool | None = None) -> FileEntry:
        """The entry of a file; ``lfs`` None: by the default rules (a file sent as ``lfsFile`` is LFS)."""
        lfs = is_lfs_file(path, size) if lfs is None else lfs
        sha1 = git_blob_sha1(lfs_pointer(sha256, size)) if lfs else self.content_sha1(sha256)
        return FileEntry(path=path, sha256=sha256, size=size, lfs=lfs, sha1=sha1)

    # --- repos -----------------------------------------------------------------------------------
    def repo_dir(self, repo: RepoRef) -> Path:
        return self.root / "repos" / f"{repo.type}s" / repo.namespace / repo.name

    def canonical(self, repo: RepoRef, *, follow_moves: bool = True) -> RepoRef:
        """The stored spelling of a repo id: ids match case-insensitively, and a moved repo's old id
        leads to its new one (``moved.json`` left by :func:`hubkit.hub.repo_admin.move_repo`), as on the Hub.

        Example:
            >>> store.canonical(RepoRef("model", "LocalUser", "Tiny-ViT")).repo_id  # stored as localuser/tiny-vit
            'localuser/tiny-vit'
        """
        for _ in range(MAX_MOVES):
            found = self._stored_dir(repo, follow_moves)
            if found is None:
                return repo
            repo, moved = found
            if not moved:
                return repo
            try:
                target = json.loads((self.repo_dir(repo) / MOVED).read_bytes())
                repo = RepoRef(repo.type, target["namespace"], target["name"])
            except (OSError, ValueError, KeyError):
                return repo
        return repo

    def _stored_dir(self, repo: RepoRef, follow_moves: bool) -> tuple[RepoRef, bool] | None:
        """(stored spelling, whether it is a moved repo's redirect) of ``repo``, or None."""
        type_dir = self.root / "repos" / f"{repo.type}s"
        for namespace in _casefold_entries(type_dir, repo.namespace):
            for name in _casefold_entries(type_dir / namespace, repo.name):
                here = type_dir / namespace / name
                if (here / "repo.json").exists():
                    return RepoRef(repo.type, namespace, name), False
                if follow_moves and (here / MOVED).exists():
                    return RepoRef(repo.type, namespace, name), True
        return None

    def repo_meta(self, repo: RepoRef) -> dict[str, Any]:
        """The repo's ``repo.json``; 404 ``RepoNotFound`` when there is no such repo."""
        try:
            meta: dict[str, Any] = json.loads((self.repo_dir(repo) / "repo.json").read_bytes())
        except (OSError, ValueError):
            raise repo_not_found() from None
        return meta

    def store_bytes(self, data: bytes) -> str:
        """Put small ``data`` into the object store (if absent); its sha256."""
        sha = sha256_bytes(data)
        if not self.has_object(sha):
            tmp = self.temp_path()
            tmp.write_bytes(data)
            self.adopt_object(tmp, sha)
        return sha

    def create_repo(
        self, repo: RepoRef, *, private: bool, author: str, extra_files: dict[str, bytes] | None = None
    ) -> bool:
        """Create a repo whose initial commit holds ``.gitattributes`` (and ``extra_files``); False if it exists."""
        repo = self.canonical(repo, follow_moves=False)  # a new repo may take a moved repo's old id
        with self.lock(repo):
            if (self.repo_dir(repo) / "repo.json").exists():
                return False
            (self.repo_dir(repo) / MOVED).unlink(missing_ok=True)
            initial = {layout.GITATTRIBUTES: GITATTRIBUTES, **(extra_files or {})}
            files = {p: self.make_entry(p, self.store_bytes(d), len(d)) for p, d in initial.items()}
            commit = self.new_commit((), "initial commit", "", author, files, digest="")
            self.write_commit(repo, commit)
            self.write_refs(repo, {"branches": {DEFAULT_BRANCH: commit.id}, "tags": {}})
            meta = {"id": repo.repo_id, "type": repo.type, "private": private, "createdAt": commit.date}
            atomic_write(self.repo_dir(repo) / "repo.json", json.dumps(meta).encode())
            return True

    def delete_repo(self, repo: RepoRef) -> None:
        """Remove a repo (its objects stay: they may be shared and are content-addressed)."""
        self.repo_meta(repo)
        with self.lock(repo):
            graveyard = self.root / "tmp" / f"deleted-{secrets.token_hex(8)}"
            os.replace(self.repo_dir(repo), graveyard)  # atomic disappearance, then cleanup
            shutil.rmtree(graveyard, ignore_errors=True)

    @contextlib.contextmanager
    def lock(self, repo: RepoRef) -> Iterator[None]:
        """Serialise writers of one repo, across threads and across processes sharing the data dir."""
        directory = self.repo_dir(repo)
        with self._locks_guard:
            tlock = self._locks.setdefault(directory, threading.Lock())
        with tlock:
            directory.mkdir(parents=True, exist_ok=True)
            with open(directory / "lock", "a+b") as f:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    # --- refs ------------------------------------------------------------------------------------
    def read_refs(self, repo: RepoRef) -> dict[str, dict[str, str]]:
        self.repo_meta(repo)
        refs: dict[str, dict[str, str]] = json.loads((self.repo_dir(repo) / "refs.json").read_bytes())
        return refs

    def write_refs(self, repo: RepoRef, refs: dict[str, dict[str, str]]) -> None:
        atomic_write(self.repo_dir(repo) / "refs.json", json.dumps(refs, sort_keys=True).encode())

    def resolve(self, repo: RepoRef, rev: str) -> tuple[str, str]:
        """Resolve a revision to ``(commit id, kind)`` with kind ``branch``, ``tag`` or ``commit``.

        Accepts branch and tag names, ``refs/heads/x``, ``refs/tags/x``, full commit ids and
        unambiguous prefixes of at least 7 hex digits. Unknown: 404 ``RevisionNotFound``.
        """
        refs = self.read_refs(repo)
        name = rev.removeprefix("refs/heads/")
        if name in refs["branches"]:
            return refs["branches"][name], "branch"
        name = rev.removeprefix("refs/tags/")
        if name in refs["tags"]:
            return refs["tags"][name], "tag"
        commits = self.repo_dir(repo) / "commits"
        if is_commit_id(rev) and (commits / f"{rev}.json").exists():
            return rev, "commit"
        if 7 <= len(rev) < 40 and all(c in "0123456789abcdef" for c in rev):
            matches = [p.stem for p in commits.glob(f"{rev}*.json")]
            if len(matches) == 1:
                return matches[0], "commit"
        raise HubHTTPError(404, "RevisionNotFound", f"Invalid rev id: {rev} (repo {repo.repo_id})")

    # --- commits ---------------------------------------------------------------------------------
    def new_commit(
        self,
        parents: tuple[str, ...],
        title: str,
        message: str,
        author: str,
        files: dict[str, FileEntry],
        *,
        digest: str,
    ) -> Commit:
        date = now_iso()
        listing = sorted((p, e.sha256) for p, e in files.items())
        raw = json.dumps([parents, title, message, author, date, listing, secrets.token_hex(8)])
        cid = hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()
        return Commit(cid, parents, title, message, date, author, files, digest)

    def write_commit(self, repo: RepoRef, commit: Commit) -> None:
        data = {
            "id": commit.id,
            "parents": list(commit.parents),
            "title": commit.title,
            "message": commit.message,
            "date": commit.date,
            "author": commit.author,
            "digest": commit.digest,
            "files": {p: [e.sha256, e.size, e.lfs, e.sha1] for p, e in sorted(commit.files.items())},
        }
        atomic_write(self.repo_dir(repo) / "commits" / f"{commit.id}.json", json.dumps(data).encode())

    def read_commit(self, repo: RepoRef, commit_id: str) -> Commit:
        data = json.loads((self.repo_dir(repo) / "commits" / f"{commit_id}.json").read_bytes())
        files = {
            p: FileEntry(path=p, sha256=v[0], size=v[1], lfs=v[2], sha1=v[3])
            for p, v in data["files"].items()
        }
        return Commit(
            id=data["id"],
            parents=tuple(data["parents"]),
            title=data["title"],
            message=data["message"],
            date=data["date"],
            author=data["author"],
            files=files,
            digest=data.get("digest", ""),
        )

    def history(self, repo: RepoRef, commit_id: str) -> list[Commit]:
        """First-parent history of a commit, newest first."""
        out: list[Commit] = []
        current: str | None = commit_id
        while current:
            commit = self.read_commit(repo, current)
            out.append(commit)
            current = commit.parents[0] if commit.parents else None
        return out

    def list_repos(self) -> list[RepoRef]:
        out = []
        for meta_path in sorted((self.root / "repos").glob("*/*/*/repo.json")):
            type_dir, ns, name = meta_path.parts[-4:-1]
            out.append(RepoRef(type_dir.removesuffix("s"), ns, name))
        return out

    # --- test helper -----------------------------------------------------------------------------
    def tamper(self, repo: RepoRef, revision: str, path: str, new_bytes: bytes) -> Path:
        """Replace the stored bytes of ``path`` at ``revision`` *in place* (object keeps its name).

        For tests of "a blob changed on the server": refs, commit and tree metadata still announce the
        old sha256/size, but downloads now serve ``new_bytes``. The object is content-addressed, so every
        repo file sharing that content changes too. Content stored in the Xet CAS gets a plain object
        too, which then wins: the hub stops advertising Xet for it, so every client gets the new bytes.
        Returns the object path.
        """
        commit_id, _ = self.resolve(repo, revision)
        entry = self.read_commit(repo, commit_id).files.get(path)
        if entry is None:
            raise HubHTTPError(404, "EntryNotFound", f"{path} not found at {revision}")
        target = self.object_path(entry.sha256)
        atomic_write(target, new_bytes)
        return target
