"""A small local record of past conversions, so that a re-run need not convert (or even read) a checkpoint.

Converting a checkpoint means reading it whole; a re-run of ``hubkit publish`` only needs the sha256s of
what the conversion *would* write, to compare them with the Hub. The key is the checkpoint file's identity
as the OS reports it (path, size, mtime, inode, like git's index) plus everything that changes the
output (weights kind, hubkit and library versions). A stale or corrupt record is ignored; the cache is an
optimisation only and never the source of what gets uploaded: uploads always come from a fresh conversion.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from hubkit import __version__, paths

_CACHE_FORMAT = 1
# Libraries whose version can change the converted bytes.
# Distributions whose versions shape a conversion, besides each framework's own (Framework.distribution).
_VERSIONED = ("torch", "safetensors")


def cache_dir() -> Path:
    """Where publish records live: :func:`hubkit.paths.publish_cache_dir` (``~/.cache/hubkit/publish``).

    Example:
        >>> cache_dir().name
        'publish'
    """
    return paths.publish_cache_dir()


@dataclass(frozen=True)
class ConvertedRecord:
    """What a conversion wrote, without the files themselves."""

    files: tuple[tuple[str, int, str, str], ...]  # (path, size, sha256, git blob id or ""), weights first
    source_sha256: str  # hex digest of the source checkpoint
    source_size: int  # bytes of the source checkpoint
    weights: str  # "ema" | "raw"
    num_parameters: int  # 11_689_512
    weights_file: str  # "model.safetensors"
    config_file: str  # "config.json"


def _versions() -> dict[str, str]:
    from hubkit import frameworks

    found: dict[str, str] = {}
    own = tuple(f.distribution for f in frameworks.all_frameworks() if f.distribution)
    for dist in (*_VERSIONED, *own):
        try:
            found[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            found[dist] = ""
    return found


def conversion_key(source: Path, weights: str | None, extra: dict[str, Any] | None = None) -> str | None:
    """The cache key of converting ``source`` with ``weights``; None when the file cannot be stat'ed.

    Example:
        >>> conversion_key(Path("runs/x/checkpoint-3.pth.tar"), "ema")  # doctest: +SKIP
        '5c1e…'
    """
    identity = file_identity(source)
    if identity is None or identity[1] is None:
        return None
    return input_key(
        {"kind": "convert", "source": identity, "weights": weights or "auto", "extra": extra or {}}
    )


def read_json(key: str | None, kind: str) -> dict[str, Any] | None:
    """The JSON record ``kind-key`` from the cache dir, or None."""
    if key is None:
        return None
    try:
        data = json.loads((cache_dir() / f"{kind}-{key}.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_json(key: str | None, kind: str, data: dict[str, Any]) -> None:
    """Store a JSON record atomically (failures are ignored: the cache is optional; a dry run writes none)."""
    if key is None or not paths.cache_writes_enabled():
        return
    target = cache_dir() / f"{kind}-{key}.json"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, sort_keys=True))
        os.replace(tmp, target)
    except OSError:
        pass  # the cache is optional


def _files(raw: Any) -> tuple[tuple[str, int, str, str], ...]:
    return tuple((str(p), int(s), str(h), str(b)) for p, s, h, b in raw)


def load(key: str | None) -> ConvertedRecord | None:
    """The conversion record stored under ``key``, or None (missing, unreadable or of another format)."""
    data = read_json(key, "convert")
    if data is None:
        return None
    try:
        return ConvertedRecord(
            files=_files(data["files"]),
            source_sha256=str(data["source_sha256"]),
            source_size=int(data["source_size"]),
            weights=str(data["weights"]),
            num_parameters=int(data["num_parameters"]),
            weights_file=str(data["weights_file"]),
            config_file=str(data["config_file"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def store(key: str | None, record: ConvertedRecord) -> None:
    """Save a conversion record under ``key`` (atomically; failures are ignored)."""
    write_json(key, "convert", asdict(record))


@dataclass(frozen=True)
class PlanRecord:
    """The files a revision ended up with after a successful publish, under the key of all its inputs."""

    files: tuple[tuple[str, int, str, str], ...]  # (path, size, sha256, git blob id or "") per file
    verified: bool | None  # what verification.json said; None without one


@functools.lru_cache(maxsize=1)
def _code_digest() -> str:
    """Digest of hubkit's own code and shipped templates: a change to either (even without a version bump,
    as in a development checkout) can change what a publish writes, so it invalidates every record."""
    import hubkit
    import hubkit.templates

    package = Path(hubkit.__file__).parent
    templates = Path(hubkit.templates.__file__).parent
    return f"{tree_digest(package)}:{tree_digest(templates)}"


def input_key(parts: dict[str, Any]) -> str:
    """A key over everything that shapes a revision's files (plus hubkit and library versions).

    Example:
        >>> len(input_key({"revision": "epoch-004"}))
        64
    """
    ident = {
        "format": _CACHE_FORMAT,
        "hubkit": __version__,
        "code": _code_digest(),
        "versions": _versions(),
        **parts,
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()


def load_plan(key: str | None) -> PlanRecord | None:
    """The record of a past publish with the same inputs, or None."""
    data = read_json(key, "plan")
    if data is None:
        return None
    try:
        verified = data["verified"]
        return PlanRecord(files=_files(data["files"]), verified=None if verified is None else bool(verified))
    except (KeyError, TypeError, ValueError):
        return None


def store_plan(key: str | None, record: PlanRecord) -> None:
    """Remember the files a publish produced for ``key``."""
    write_json(key, "plan", asdict(record))


def file_identity(path: Path | None) -> list[Any] | None:
    """What the OS says about a file (path, size, mtime, inode): changes whenever its content may have.

    Example:
        >>> file_identity(None) is None
        True
    """
    if path is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return [str(path), None]
    return [str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino]


def tree_digest(root: Path | None) -> str | None:
    """sha256 over the names and contents of the files under ``root`` (template dirs are small)."""
    if root is None or not root.is_dir():
        return None
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
