"""Safe checkpoint loading: ``torch.load(weights_only=True)`` plus a small allowlist, never anything more.

Checkpoints are pickles, and a pickle can name any callable. torch's weights-only unpickler refuses every
global outside its own list; hubkit widens that list, only inside a ``torch.serialization.safe_globals``
context (no global mutation), by the few harmless types real timm / OpenCLIP checkpoints carry
(:data:`ALLOWED_GLOBALS`). A checkpoint that asks for anything else is refused before any of it runs.

``torch.load`` memory-maps the file, so only the tensors that are used (one state dict, not the optimizer
state) are ever paged in. Conversion, which records the source's sha256, also reads the file once in
chunks to hash it (:func:`load_checkpoint_with_sha256`); plain loads do not.
"""

from __future__ import annotations

import importlib
import os
import pickle
import re
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubkit.errors import CheckpointError, UnsafeCheckpointError
from hubkit.hashing import THREAD_CHUNK_SIZE, sha256_file

# (dotted name, why it is harmless and where real checkpoints carry it). Names that do not import in the
# installed numpy are skipped (numpy 2 moved ``numpy.core`` to ``numpy._core``).
ALLOWED_GLOBALS: tuple[tuple[str, str], ...] = (
    ("argparse.Namespace", "timm CheckpointSaver saves the train.py arg namespace under 'args'"),
    ("numpy._core.multiarray.scalar", "numpy scalars (e.g. a metric computed with numpy), numpy >= 2"),
    ("numpy.core.multiarray.scalar", "numpy scalars, numpy < 2"),
    ("numpy.dtype", "the dtype that accompanies a pickled numpy scalar"),
    ("numpy.dtypes.Float64DType", "dtype class of float64 scalars (numpy >= 1.25 pickles it)"),
    ("numpy.dtypes.Float32DType", "dtype class of float32 scalars"),
    ("numpy.dtypes.Int64DType", "dtype class of int64 scalars"),
    ("numpy.dtypes.Int32DType", "dtype class of int32 scalars"),
    ("numpy.dtypes.BoolDType", "dtype class of bool scalars"),
    ("pathlib.PosixPath", "paths kept in arg namespaces (constructing a path has no side effect)"),
    ("pathlib.WindowsPath", "paths kept in arg namespaces saved on Windows"),
    ("pathlib.PurePosixPath", "pure paths in arg namespaces"),
    ("pathlib.PureWindowsPath", "pure paths in arg namespaces"),
)

ZIP_MAGIC = b"PK\x03\x04"  # a zip file's first bytes (a local file header's signature)
_LOAD_LOCK = threading.Lock()
_GLOBAL_RE = re.compile(r"GLOBAL ([\w.]+)")


def allowed_globals() -> list[Any]:
    """Return the importable objects of :data:`ALLOWED_GLOBALS` (for ``torch.serialization.safe_globals``).

    Example:
        >>> import argparse; argparse.Namespace in allowed_globals()
        True
    """
    return [*framework_stand_ins(), *_importable().values()]


def _importable() -> dict[str, Any]:
    """The objects of :data:`ALLOWED_GLOBALS` that import here, by dotted name."""
    found: dict[str, Any] = {}
    for dotted, _why in ALLOWED_GLOBALS:
        module_name, _, attr = dotted.rpartition(".")
        try:
            found[dotted] = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError):
            continue
    return found


def allowed_by_name() -> dict[str, Any]:
    """Each dotted name a checkpoint may carry -> what the safe load resolves it to (hubkit's list, then
    the frameworks' stand-ins).

    Example:
        >>> import argparse; allowed_by_name()["argparse.Namespace"] is argparse.Namespace
        True
    """
    return {**_importable(), **{name: obj for obj, name in framework_stand_ins()}}


def framework_stand_ins() -> list[tuple[Any, str]]:
    """The inert stand-ins registered frameworks need (``Framework.pickle_stand_ins``)."""
    from hubkit import frameworks

    return [pair for framework in frameworks.all_frameworks() for pair in framework.pickle_stand_ins]


def allowed_names() -> frozenset[str]:
    """Every dotted global name a checkpoint may carry: hubkit's list plus the frameworks' stand-ins."""
    return frozenset({name for name, _ in ALLOWED_GLOBALS} | {name for _, name in framework_stand_ins()})


def _refused_globals(path: Path, names: frozenset[str] | None = None) -> list[str]:
    """Globals the pickle names that are outside torch's and hubkit's lists (scanned, never run)."""
    from torch.serialization import get_unsafe_globals_in_checkpoint

    allowed = names if names is not None else allowed_names()
    try:
        found = get_unsafe_globals_in_checkpoint(str(path))
    except Exception:  # the scan itself failed (not a zip checkpoint): fall back to the error text
        return []
    return [name for name in found if name not in allowed]


def _safe_load(
    file: Path, *, globals_: list[Any] | None = None, names: frozenset[str] | None = None
) -> dict[str, Any]:
    """torch.load with weights_only=True + the allowlist, memory-mapped; errors mapped to hubkit's.

    ``globals_`` / ``names`` replace the allowlist and its dotted names (a framework's stand-ins, e.g.
    :mod:`hubkit.runs.mmengine_safe`).
    """
    import torch

    if not file.is_file():
        raise CheckpointError(f"{file} does not exist or is not a file", hint="Check the checkpoint path.")
    if file.stat().st_size == 0:
        raise CheckpointError(
            f"{file} is empty (0 bytes)", hint="The save was interrupted; pick another epoch."
        )
    with open(file, "rb") as handle:
        is_zip = handle.read(4) == ZIP_MAGIC
    try:
        # torch's safe_globals edits one process-wide allowlist: a thread leaving the context would take
        # the types away from a load running in another thread (a spurious refusal). One load at a time;
        # unpickling holds the GIL anyway, so little is lost.
        with _LOAD_LOCK, torch.serialization.safe_globals(globals_ or allowed_globals()):
            # mmap: tensors stay on disk until touched, so the optimizer state never reaches memory.
            checkpoint = torch.load(file, map_location="cpu", weights_only=True, mmap=is_zip)
    except pickle.UnpicklingError as exc:
        refused = _refused_globals(file, names) if is_zip else []
        if not refused:
            refused = sorted(set(_GLOBAL_RE.findall(str(exc))))
        if refused or "GLOBAL" in str(exc) or "Unsupported" in str(exc):
            said = [ln for ln in str(exc).splitlines() if "Unsupported" in ln or "GLOBAL" in ln]
            what = (
                ", ".join(refused) if refused else (said or str(exc).strip().splitlines())[-1].strip()[:200]
            )
            raise UnsafeCheckpointError(
                f"{file} was refused: its pickle asks for {what}, which is not on hubkit's allowlist "
                "(nothing in the file was run)",
                hint="Only publish checkpoints you produced; if the type is harmless, re-save the "
                "checkpoint with plain tensors/dicts/numbers, or report it so it can be added to "
                "hubkit.runs.safeload.ALLOWED_GLOBALS.",
            ) from None
        raise CheckpointError(
            f"{file} could not be unpickled: {str(exc).strip().splitlines()[0][:200]}",
            hint="The file is corrupt or not a torch checkpoint; pick another epoch.",
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError, IndexError) as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        kind = "truncated or corrupt" if is_zip else "not a torch checkpoint, or corrupt"
        raise CheckpointError(
            f"{file} is {kind} ({type(exc).__name__}: {first})",
            hint="The save was probably interrupted or the copy is incomplete; re-copy it or pick another epoch.",
        ) from None
    if not isinstance(checkpoint, dict):
        raise CheckpointError(
            f"{file} holds a {type(checkpoint).__name__}, not a checkpoint dict",
            hint="Expected a dict with 'state_dict' (timm CheckpointSaver / open_clip_train output).",
        )
    return checkpoint


def peek_epoch(path: str | os.PathLike[str]) -> int | None:
    """Return the ``epoch`` stored in a checkpoint without hashing it (tensors memory-mapped, not read).

    Example:
        >>> peek_epoch("runs/timm-digits/last.pth.tar")
        7
    """
    epoch = _safe_load(Path(path)).get("epoch")
    return epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else None


@dataclass(frozen=True)
class SourceHash:
    """The sha256 of a checkpoint file and the file's state when it was hashed."""

    path: Path  # Path("runs/x/checkpoint-3.pth.tar")
    sha256: str  # 64 hex digits
    size: int  # 307_456_789
    mtime_ns: int  # st_mtime_ns before and after hashing (unchanged, or hashing fails)


def _changed(file: Path) -> CheckpointError:
    return CheckpointError(
        f"{file} changed while it was being read",
        hint="Wait for training to finish writing checkpoints, then try again.",
    )


def hash_checkpoint(path: str | os.PathLike[str]) -> SourceHash:
    """Hash a checkpoint file, checking that it did not change meanwhile (size and mtime).

    Hashing reads the whole file without the GIL, so it can run in a thread ahead of the conversions that
    need the hash (:func:`load_checkpoint_with_sha256` with ``known=``).

    Example:
        >>> hash_checkpoint("runs/timm-digits/last.pth.tar").sha256[:12]
        '3f2a9c0d81e4'
    """
    file = Path(path)
    if not file.is_file():
        raise CheckpointError(f"{file} does not exist or is not a file", hint="Check the checkpoint path.")
    before = file.stat()
    digest = sha256_file(file, chunk_size=THREAD_CHUNK_SIZE)
    after = file.stat()
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        raise _changed(file)
    return SourceHash(path=file, sha256=digest, size=after.st_size, mtime_ns=after.st_mtime_ns)


@dataclass(frozen=True)
class Preloaded:
    """A checkpoint safe-loaded ahead of its conversion (tensors memory-mapped, not read)."""

    path: Path  # Path("runs/x/checkpoint-3.pth.tar")
    checkpoint: dict[str, Any]  # what :func:`load_checkpoint` returns
    size: int  # the file's st_size while it was loaded
    mtime_ns: int  # its st_mtime_ns then (unchanged across the load, or preloading fails)


def preload(path: str | os.PathLike[str]) -> Preloaded:
    """Safe-load a checkpoint now, for a conversion later (:func:`load_checkpoint_with_sha256`).

    Publishing checks every checkpoint before its first remote write; keeping what that check loaded
    spares each conversion a second unpickling of the same file.

    Example:
        >>> preload("runs/timm-digits/last.pth.tar").checkpoint["epoch"]
        4
    """
    file = Path(path)
    try:
        before = file.stat()
    except OSError:
        before = None  # _safe_load says what is wrong with it
    checkpoint = _safe_load(file)  # raises the clear errors for missing, empty, unsafe or corrupt files
    after = file.stat()
    if before is None or (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        raise _changed(file)
    return Preloaded(path=file, checkpoint=checkpoint, size=after.st_size, mtime_ns=after.st_mtime_ns)


class Preloads:
    """Checkpoints safe-loaded once for two users: a publish's preflight (for its conversions) and its
    training-dynamics analysis, in their own threads; whoever comes first loads.

    :meth:`get` keeps what it returns for the other user; :meth:`take` (the analysis) forgets it, so that
    the file's memory map goes with its last user (pages a conversion read stay resident while it lives).

    Example:
        >>> preloads = Preloads()
        >>> preloads.get("runs/x/last.pth.tar") is preloads.take("runs/x/last.pth.tar")
        True
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[Path, Preloaded] = {}
        self._loading: dict[Path, threading.Lock] = {}
        self._closed = False

    def get(self, path: str | os.PathLike[str]) -> Preloaded:
        """The checkpoint at ``path``, loaded by :func:`preload` unless loaded already; kept for a :meth:`take`."""
        return self._load(Path(path), keep=True)

    def take(self, path: str | os.PathLike[str]) -> Preloaded:
        """The checkpoint at ``path`` (loaded already by :meth:`get`, or now), no longer kept here."""
        return self._load(Path(path), keep=False)

    def checkpoint(self, path: str | os.PathLike[str]) -> dict[str, Any]:
        """The checkpoint dict at ``path`` (:meth:`take`)."""
        return self.take(path).checkpoint

    def close(self) -> None:
        """Forget every checkpoint kept, and keep none from now on (their maps go with their other users)."""
        with self._lock:
            self._loaded.clear()
            self._closed = True

    def _load(self, file: Path, *, keep: bool) -> Preloaded:
        with self._lock:
            lock = self._loading.setdefault(file, threading.Lock())
        with lock:
            with self._lock:
                found = self._loaded.pop(file, None)
            if found is None:
                found = preload(file)
            with self._lock:
                if keep and not self._closed:
                    self._loaded[file] = found
            return found


def load_checkpoint_with_sha256(
    path: str | os.PathLike[str], *, known: SourceHash | None = None, preloaded: Preloaded | None = None
) -> tuple[dict[str, Any], str]:
    """Hash a checkpoint file and load it safely; see :func:`load_checkpoint`.

    The file is read once in chunks for the hash; torch.load then maps it, so only the tensors that are
    used get paged in (from the page cache the hash pass just filled).

    Args:
        path: the checkpoint file.
        known: its :func:`hash_checkpoint` from earlier; used when the file still has the size and mtime
            it had then (otherwise the file changed since: :class:`CheckpointError`).
        preloaded: its :func:`preload` from earlier; used instead of loading again when the file had the
            same size and mtime when it was hashed (otherwise :class:`CheckpointError`).

    Returns:
        ``(checkpoint dict, sha256 hex of the file)``.

    Example:
        >>> ckpt, sha = load_checkpoint_with_sha256("runs/timm-digits/last.pth.tar")
    """
    file = Path(path)
    if known is None or Path(known.path) != file:
        known = hash_checkpoint(file)
    if preloaded is not None and Path(preloaded.path) == file:
        if (preloaded.size, preloaded.mtime_ns) != (known.size, known.mtime_ns):
            raise _changed(file)  # what was loaded is not what was hashed
        checkpoint = preloaded.checkpoint
    else:
        checkpoint = _safe_load(file)
    after = file.stat()
    if (after.st_size, after.st_mtime_ns) != (known.size, known.mtime_ns):
        raise _changed(file)
    return checkpoint, known.sha256


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a training checkpoint safely (``weights_only=True`` + :data:`ALLOWED_GLOBALS`, memory-mapped).

    Args:
        path: a ``.pth.tar`` / ``.pt`` checkpoint.

    Returns:
        The checkpoint dict.

    Raises:
        UnsafeCheckpointError: the pickle names a global outside the allowlist (nothing was run).
        CheckpointError: the file is missing, empty, truncated, corrupt or not a dict.

    Example:
        >>> load_checkpoint("runs/timm-digits/last.pth.tar")["epoch"]
        4
    """
    return _safe_load(Path(path))
