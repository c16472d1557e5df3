"""Where the analysed tensors come from: training checkpoints or published safetensors.

A source describes its tensors, copies a run of one tensor's elements into a caller's buffer
(:meth:`WeightSource.read_into`: the read of those bytes), and hands out whole tensors (integer ones,
tests). Where a training checkpoint's tensors lie in its file is read from its pickle alone
(:mod:`hubkit.runs.tensor_index`: no tensor is built); a file that index does not vouch for, or one the
caller loaded already, goes through hubkit's safe loader (``torch.load(weights_only=True)`` + allowlist),
memory-mapped: the tensors are views of the mapped file, and their place in it gives each one's file
offset. ``read_into`` then reads the file with ``pread`` instead of touching a mapping: no page faults, no
mapped pages resident, and reads from several threads do not contend for the mapping (page faults on one
mapping, and dropping its pages again, do not scale across threads; ``pread`` from the page cache does).
A tensor handed out whole is a view of the mapping; :meth:`CheckpointWeights.release` drops its pages
with ``madvise(MADV_DONTNEED)`` (the file is untouched, a later access reads it again).
Published revisions (safetensors) are described by ``safetensors.safe_open`` and read the same way: their
data offsets come from the file's header.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import math
import mmap
import os
import struct
import sys
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hubkit.errors import CheckpointError
from hubkit.frameworks.checkpoints import strip_prefixes
from hubkit.runs.convert import SAFETENSORS_DTYPES

if TYPE_CHECKING:
    import torch

    from hubkit.frameworks import Framework
# {key: (file offset of its data or None, torch dtype name, shape)}: a loaded checkpoint's tensors as
# another process can read them (None: not a plain view of the mapped file, so it must load the file)
Layout = dict[str, tuple[int | None, str, tuple[int, ...]]]
# safetensors dtype name -> torch dtype name (the conversion's table, read the other way)
TORCH_DTYPES: dict[str, str] = {st: name for name, st in SAFETENSORS_DTYPES.items()}
_MADV_DONTNEED = getattr(mmap, "MADV_DONTNEED", 4)


class WeightSource(Protocol):
    """One checkpoint's tensors, handed out one by one."""

    name: str  # "checkpoint-3.pth.tar"

    def metadata(self) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
        """``{key: (shape, dtype)}`` of every tensor, without reading any."""
        ...

    def tensor(self, key: str) -> torch.Tensor:
        """The tensor ``key`` (CPU, contiguous); valid until :meth:`release`."""
        ...

    def read_into(self, key: str, start: int, stop: int, out: torch.Tensor) -> None:
        """Copy the bytes of elements ``start:stop`` of tensor ``key`` (flattened) into ``out`` (a
        contiguous ``uint8`` tensor of exactly that many bytes)."""
        ...

    def layout(self) -> Layout | None:
        """Where each tensor lies in the file, for another process to read it without loading it
        (:meth:`adopt`); None where there is nothing to gain (the source is cheap to open)."""
        ...

    def adopt(self, layout: Layout) -> None:
        """Use ``layout`` (another process's :meth:`layout` of the same file) instead of loading."""
        ...

    def release(self, tensor: torch.Tensor) -> None:
        """Say that ``tensor`` (from :meth:`tensor`) is no longer needed."""
        ...

    def close(self) -> None:
        """Drop the file."""
        ...


def pread_into(fd: int, out: torch.Tensor, offset: int, what: Path) -> None:
    """Read ``out.numel()`` bytes of file ``fd`` at ``offset`` into the ``uint8`` tensor ``out``."""
    view = out.numpy().data.cast("B")
    done = 0
    while done < len(view):
        got = os.preadv(fd, [view[done:]], offset + done)
        if got <= 0:
            raise CheckpointError(
                f"{what} ended early (truncated while it was read?)",
                hint="Check that nothing rewrites the checkpoints during the analysis, then run it again.",
            )
        done += got


@functools.cache
def _torch_dtype(name: str) -> torch.dtype:
    """``torch.float32`` for ``"float32"`` (a layout's dtype names)."""
    import torch

    dtype: torch.dtype = getattr(torch, name)
    return dtype


def _entry(tensor: torch.Tensor, offset: int | None) -> tuple[int | None, str, tuple[int, ...]]:
    """A :data:`Layout` entry: where ``tensor``'s data starts in its file, its dtype's name, its shape."""
    return offset, str(tensor.dtype).removeprefix("torch."), tuple(tensor.shape)


@functools.cache
def _libc_madvise() -> Any:
    """libc's ``madvise``, from the symbols this process has loaded already (``find_library`` would run
    ``ldconfig`` in a subprocess for every checkpoint)."""
    madvise = ctypes.CDLL(None, use_errno=True).madvise
    madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    return madvise


class _Pages:
    """A file's private, read-only mappings in this process (Linux): where a mapped address lies in the
    file, and dropping resident pages. Elsewhere it knows no mapping."""

    def __init__(self, path: Path) -> None:
        self.spans: list[tuple[int, int, int]] = []  # (start, end, file offset of start)
        self._madvise = None
        if not sys.platform.startswith("linux"):
            return
        target = str(path.resolve())
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                parts = line.split(maxsplit=5)
                # only private mappings: dropping their untouched pages just means reading the file again
                if len(parts) == 6 and parts[5].strip() == target and parts[1][3] == "p":
                    start, end = (int(x, 16) for x in parts[0].split("-"))
                    self.spans.append((start, end, int(parts[2], 16)))
        self._madvise = _libc_madvise()
        self._page = os.sysconf("SC_PAGE_SIZE")

    def file_offset(self, address: int, length: int) -> int | None:
        """Where ``length`` bytes mapped at ``address`` lie in the file (None: not in one mapping)."""
        for start, end, offset in self.spans:
            if start <= address and address + length <= end:
                return address - start + offset
        return None

    def drop(self, address: int, length: int) -> None:
        if self._madvise is None or length <= 0:
            return
        for start, end, _ in self.spans:
            if start <= address and address + length <= end:
                lo = address - address % self._page
                hi = min(end, -(-(address + length) // self._page) * self._page)
                self._madvise(lo, hi - lo, _MADV_DONTNEED)
                return


class CheckpointWeights:
    """The published state dict of one training checkpoint (located from its pickle, or safe-loaded and
    memory-mapped).

    Args:
        path: a ``.pth.tar`` / ``.pt`` checkpoint.
        weights: ``"raw"`` or ``"ema"``.
        framework: the run's framework (it picks the state dict of those weights).
        load: loads the checkpoint file (default: hubkit's safe loader); a publish passes the checkpoints
            it loaded already (:class:`hubkit.runs.safeload.Preloads`).

    Example:
        >>> src = CheckpointWeights(Path("runs/x/checkpoint-3.pth.tar"), "ema", frameworks.get("timm"))
        >>> sorted(src.metadata())[:1]
        ['conv1.weight']
    """

    def __init__(
        self,
        path: Path,
        weights: str,
        framework: Framework,
        *,
        load: Callable[[Path], dict[str, Any]] | None = None,
    ) -> None:
        self.path = Path(path)
        self._load = load
        self.name = self.path.name
        self._weights = weights
        self._framework = framework
        self._state: dict[str, torch.Tensor] | None = None  # loaded on first use (:meth:`_open`)
        self._pages: _Pages | None = None  # the file's mappings, once it is mapped
        self._fd: int | None = None  # the file, opened for pread on the first read_into
        # where each tensor lies in the file: from the pickle (:meth:`_locate`), found when it is loaded,
        # or another process's (:meth:`adopt`)
        self._layout: Layout | None = None

    def _open(self) -> dict[str, torch.Tensor]:
        """The state dict, safe-loaded on first use: a caller that measures pairs in order opens the later
        checkpoints only when it reaches them."""
        if self._state is not None:
            return self._state
        from hubkit.runs.safeload import load_checkpoint

        checkpoint = self._load(self.path) if self._load is not None else load_checkpoint(self.path)
        try:
            state = self._framework.source_state_dict(checkpoint, self._weights)
        except KeyError as exc:
            raise CheckpointError(
                f"{self.path}: {exc.args[0] if exc.args else exc}",
                hint="For EMA weights the run must have kept them (--weights raw otherwise).",
            ) from None
        if not state:
            raise CheckpointError(
                f"{self.path} holds no {self._weights} weights", hint="Pick another checkpoint."
            )
        self._state = strip_prefixes(state)
        self._pages = _Pages(self.path)
        self._layout = self._layout_of(self._state, self._pages)
        return self._state

    def _locate(self) -> Layout:
        """Where each tensor lies: read from the pickle alone when :mod:`hubkit.runs.tensor_index` can
        vouch for the file (no tensor is built), otherwise found by loading it the safe way."""
        if self._layout is None and self._load is None:
            self._layout = self._indexed()
        if self._layout is None:
            self._open()
        assert self._layout is not None, "a loaded checkpoint knows its layout"
        return self._layout

    def _indexed(self) -> Layout | None:
        from hubkit.runs.tensor_index import index_checkpoint

        index = index_checkpoint(self.path)
        if index is None:
            return None
        try:
            state = strip_prefixes(self._framework.source_state_dict(index.tree, self._weights))
            offsets = index.file_offsets(state.values()) if state else None
        except (KeyError, CheckpointError, OSError):  # the safe load says what is wrong
            return None
        if offsets is None:
            return None
        return {key: _entry(t, offset) for (key, t), offset in zip(state.items(), offsets, strict=True)}

    def metadata(self) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
        if self._state is None:
            return {k: (shape, _torch_dtype(name)) for k, (_, name, shape) in self._locate().items()}
        return {k: (tuple(v.shape), v.dtype) for k, v in self._state.items()}

    def tensor(self, key: str) -> torch.Tensor:
        offset, name, shape = self._locate()[key]
        if self._state is None and offset is not None:  # located, not loaded: read it from the file
            import torch

            dtype, numel = _torch_dtype(name), math.prod(shape)
            out = torch.empty(numel * dtype.itemsize, dtype=torch.uint8)
            self.read_into(key, 0, numel, out)
            return out.view(dtype).reshape(shape)
        return self._open()[key].contiguous()

    def layout(self) -> Layout:
        """Where each tensor lies in the file (:meth:`_locate`).

        Example:
            >>> CheckpointWeights(path, "ema", frameworks.get("timm")).layout()["fc.bias"]
            (93419584, 'float32', (1000,))
        """
        return self._locate()

    @staticmethod
    def _layout_of(state: Mapping[str, torch.Tensor], pages: _Pages) -> Layout:
        out: Layout = {}
        for key, tensor in state.items():
            nbytes = tensor.numel() * tensor.element_size()
            offset = None
            if tensor.is_contiguous() and nbytes:
                offset = pages.file_offset(tensor.data_ptr(), nbytes)
            out[key] = _entry(tensor, offset)
        return out

    def adopt(self, layout: Layout) -> None:
        if self._state is None:
            self._layout = dict(layout)

    def read_into(self, key: str, start: int, stop: int, out: torch.Tensor) -> None:
        offset, name, _ = self._locate()[key]
        if offset is None:  # not a view of the mapped file (a legacy, unmapped checkpoint): copy it
            part = self._open()[key].reshape(-1)[start:stop]
            out.copy_(part.view(out.dtype))
            self.release(part)
            return
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        pread_into(self._fd, out, offset + start * _torch_dtype(name).itemsize, self.path)

    def release(self, tensor: torch.Tensor) -> None:
        if self._pages is not None:
            self._pages.drop(tensor.data_ptr(), tensor.numel() * tensor.element_size())

    def close(self) -> None:
        self._state, self._layout = {}, {}
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class SafetensorsWeights:
    """The tensors of one ``.safetensors`` file: checked and described by ``safetensors.safe_open``, read
    with ``pread`` (:meth:`read_into`) or handed out as zero-copy views of a read-only memory map (released
    pages are dropped, as for checkpoints).

    ``safe_open`` copies a whole tensor per call (a slice too); reading runs of elements lets the analysis
    read one chunk at a time. The data offsets come from the file's JSON header (8-byte little-endian
    length, then the header: the safetensors format).

    Example:
        >>> src = SafetensorsWeights(Path("snapshot/model.safetensors"), name="epoch-003")
    """

    def __init__(self, path: Path, *, name: str | None = None) -> None:
        from safetensors import safe_open

        self.path = Path(path)
        self.name = name or self.path.name
        try:
            with safe_open(str(self.path), framework="pt") as checked:
                self._meta = _safetensors_metadata(checked)
            with open(self.path, "rb") as handle:
                (length,) = struct.unpack("<Q", handle.read(8))
                header = json.loads(handle.read(length))
                self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except Exception as exc:  # safetensors raises its own SafetensorError (header, size, dtype …)
            raise CheckpointError(
                f"{self.path} is not a readable safetensors file ({exc})",
                hint="Download the revision again; the file may be truncated.",
            ) from None
        self._data = 8 + length
        self._offsets = {k: int(v["data_offsets"][0]) for k, v in header.items() if k != "__metadata__"}
        self._base: int | None = None
        self._fd: int | None = None  # the file, opened for pread on the first read_into

    def metadata(self) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
        return dict(self._meta)

    def tensor(self, key: str) -> torch.Tensor:
        import torch

        shape, dtype = self._meta[key]
        numel = math.prod(shape)
        if numel == 0:
            return torch.empty(shape, dtype=dtype)
        with warnings.catch_warnings():  # the map is read-only, and so is every use of the view
            warnings.simplefilter("ignore", UserWarning)
            view = torch.frombuffer(
                self._map, dtype=dtype, count=numel, offset=self._data + self._offsets[key]
            )
            if self._base is None:
                self._base = torch.frombuffer(self._map, dtype=torch.uint8, count=1).data_ptr()
        return view.reshape(shape)

    def read_into(self, key: str, start: int, stop: int, out: torch.Tensor) -> None:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        size = self._meta[key][1].itemsize
        pread_into(self._fd, out, self._data + self._offsets[key] + start * size, self.path)

    def layout(self) -> None:
        return None  # opening a safetensors file reads its header only: nothing to share

    def adopt(self, layout: Layout) -> None:
        return None

    def release(self, tensor: torch.Tensor) -> None:
        if self._base is None or tensor.numel() == 0:
            return
        start = tensor.data_ptr() - self._base
        length = tensor.numel() * tensor.element_size()
        if start >= 0 and start + length <= len(self._map):
            lo = start - start % mmap.PAGESIZE
            self._map.madvise(_MADV_DONTNEED, lo, min(len(self._map), start + length) - lo)

    def close(self) -> None:
        self._meta = {}
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        with contextlib.suppress(BufferError):  # a view is still alive somewhere; the map goes with it
            self._map.close()


def _safetensors_metadata(checked: Any) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    import torch

    out: dict[str, tuple[tuple[int, ...], torch.dtype]] = {}
    for key in checked.keys():  # noqa: SIM118 (safe_open is not a mapping)
        view = checked.get_slice(key)
        out[key] = (tuple(view.get_shape()), getattr(torch, TORCH_DTYPES[view.get_dtype()]))
    return out


class MemoryWeights:
    """A state dict already in memory (tests, or weights built on the fly).

    Example:
        >>> MemoryWeights({"w": torch.ones(2)}, name="a").metadata()
        {'w': ((2,), torch.float32)}
    """

    def __init__(self, state: Mapping[str, torch.Tensor], *, name: str) -> None:
        self.name = name
        self._state = dict(state)

    def metadata(self) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
        return {k: (tuple(v.shape), v.dtype) for k, v in self._state.items()}

    def tensor(self, key: str) -> torch.Tensor:
        return self._state[key].contiguous()

    def read_into(self, key: str, start: int, stop: int, out: torch.Tensor) -> None:
        out.copy_(self._state[key].reshape(-1)[start:stop].view(out.dtype))

    def layout(self) -> None:
        return None  # in this process's memory: nothing another process could read

    def adopt(self, layout: Layout) -> None:
        return None

    def release(self, tensor: torch.Tensor) -> None:
        return None

    def close(self) -> None:
        self._state = {}
