"""Where each tensor of a torch (zip) checkpoint lies in its file, read from the pickle without loading it.

``torch.load(weights_only=True)`` unpickles in Python and builds every tensor of the file: the model, its
EMA copy and the optimizer state (about 800 tensors in a timm checkpoint, 50-70 ms each time). An analysis
that reads the weights itself (``pread`` at file offsets, :mod:`hubkit.dynamics.weights`) only needs to know
where they are. :func:`index_checkpoint` runs the standard library's C unpickler over the checkpoint's
``data.pkl`` with a ``find_class`` that answers torch's tensor-building names with inert descriptions of
this module's own (a tensor is never built) and every other name only if the safe loader allows it, with
exactly what the safe loader resolves it to (hubkit's short allowlist and the frameworks' inert stand-ins,
e.g. MMEngine's message hub), and a ``persistent_load`` that returns a description of the storage.
Nothing in the file is run and no tensor data is read. Tensors come back as ``meta`` tensors of the right
dtype and shape in the checkpoint's own dict tree, so a framework's code that picks the state dict out of a
checkpoint works on them unchanged.

Anything else (another global, a compressed or missing record, a tensor outside its storage,
a big-endian file, a legacy non-zip file) makes it answer None: the caller then uses the safe loader
(:mod:`hubkit.runs.safeload`), which loads what is allowed and refuses the rest with its error.
The zip layout (local file headers, stored records) is the ZIP format's; torch writes its records stored,
uncompressed.
"""

from __future__ import annotations

import codecs
import functools
import io
import math
import os
import pickle
import struct
import sys
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubkit.runs.safeload import ZIP_MAGIC, allowed_by_name

if TYPE_CHECKING:
    import torch

__all__ = ["IndexedCheckpoint", "index_checkpoint"]

# torch's legacy typed-storage class names (what its pickles name for a storage's dtype) -> dtype name
STORAGE_DTYPES: dict[str, str] = {
    "DoubleStorage": "float64",
    "FloatStorage": "float32",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
}
_LOCAL_HEADER = struct.Struct("<4s22xHH")  # signature, then file name and extra field lengths (ZIP format)


class _NotIndexable(Exception):
    """The file holds something this index does not vouch for: the caller loads it the safe way."""


@dataclass(frozen=True, slots=True)
class _StorageType:
    dtype: str


@dataclass(frozen=True, slots=True)
class _Storage:
    key: str
    dtype: str
    numel: int


@dataclass(frozen=True, slots=True)
class _Stored:
    """A tensor as the pickle describes it: a strided view of a storage."""

    storage: _Storage
    offset: int  # elements into the storage
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *_: Any) -> _Stored:
    """Stand-in for ``torch._utils._rebuild_tensor_v2``: describes the tensor, builds nothing."""
    if not (
        isinstance(storage, _Storage)
        and isinstance(offset, int)
        and isinstance(size, tuple)
        and isinstance(stride, tuple)
        and len(size) == len(stride)
        and all(isinstance(n, int) and n >= 0 for n in size + stride)
    ):
        raise _NotIndexable("not a plain tensor")
    return _Stored(storage, offset, size, stride)


def _rebuild_parameter(data: Any, *_: Any) -> Any:
    """Stand-in for ``torch._utils._rebuild_parameter``: a parameter is its data."""
    return data


class _Dict(dict[Any, Any]):
    """Stand-in for ``collections.OrderedDict``: a dict that ignores the attributes pickled with it (torch
    state dicts carry ``_metadata``)."""

    def __setstate__(self, _: Any) -> None:
        pass


@functools.cache
def _stand_ins() -> dict[tuple[str, str], Any]:
    """torch's tensor-building names -> this module's descriptions; every other name the safe loader
    allows -> exactly what it resolves that name to. Never more than the safe loader allows."""
    table: dict[tuple[str, str], Any] = {}
    for dotted, obj in allowed_by_name().items():
        module, _, name = dotted.rpartition(".")
        table[(module, name)] = obj
    table[("_codecs", "encode")] = codecs.encode  # protocol-2 bytes (numpy scalars); torch allows it too
    table[("torch._utils", "_rebuild_tensor_v2")] = _rebuild_tensor
    table[("torch._utils", "_rebuild_parameter")] = _rebuild_parameter
    table[("collections", "OrderedDict")] = _Dict
    table.update({("torch", name): _StorageType(dtype) for name, dtype in STORAGE_DTYPES.items()})
    return table


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: Any) -> None:
        super().__init__(file)
        self._table = _stand_ins()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._table[(module, name)]
        except KeyError:
            raise _NotIndexable(f"{module}.{name}") from None

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise _NotIndexable("an unknown persistent id")
        _, kind, key, _location, numel = pid
        if not (isinstance(kind, _StorageType) and isinstance(key, str) and isinstance(numel, int)):
            raise _NotIndexable("an unknown storage")
        return _Storage(key, kind.dtype, numel)


@dataclass(frozen=True)
class IndexedCheckpoint:
    """A checkpoint's object tree with every tensor as a ``meta`` tensor, and where their data lies.

    Example:
        >>> found = index_checkpoint(Path("checkpoint-3.pth.tar"))
        >>> w = found.tree["state_dict"]["fc.weight"]
        >>> w.device.type, found.file_offsets([w])
        ('meta', [93419584])
    """

    path: Path
    tree: dict[str, Any]
    # id(meta tensor) -> (zip header offset of its storage's record, byte offset into the record); for
    # the contiguous, non-empty tensors of the tree (kept alive by it)
    _where: dict[int, tuple[int, int]]

    def file_offsets(self, tensors: Iterable[torch.Tensor]) -> list[int | None]:
        """Where each of ``tensors`` (meta tensors of :attr:`tree`) starts in the file; None for one that
        is not contiguous or empty (it must be loaded).

        Raises:
            OSError: the file can no longer be read, or its zip entries changed since it was indexed.
        """
        starts: dict[int, int] = {}
        out: list[int | None] = []
        with open(self.path, "rb") as handle:
            for tensor in tensors:
                where = self._where.get(id(tensor))
                if where is None:
                    out.append(None)
                    continue
                header, within = where
                if header not in starts:
                    handle.seek(header)
                    magic, name_len, extra_len = _LOCAL_HEADER.unpack(handle.read(_LOCAL_HEADER.size))
                    if magic != ZIP_MAGIC:
                        raise OSError(f"{self.path}: a zip entry changed since it was indexed")
                    starts[header] = header + _LOCAL_HEADER.size + name_len + extra_len
                out.append(starts[header] + within)
        return out


def index_checkpoint(path: str | os.PathLike[str]) -> IndexedCheckpoint | None:
    """Index ``path`` (see the module's docstring); None when it must be loaded the safe way instead."""
    if sys.byteorder != "little":
        return None
    try:
        with open(path, "rb") as handle:
            if handle.read(4) != ZIP_MAGIC:
                return None
            with zipfile.ZipFile(handle) as archive:
                tree, where = _index(archive)
    except (_NotIndexable, zipfile.BadZipFile, pickle.UnpicklingError, OSError, EOFError, ValueError):
        return None
    except (KeyError, IndexError, TypeError, AttributeError, RecursionError, MemoryError):
        return None  # a malformed pickle: the safe loader says what is wrong with it
    return IndexedCheckpoint(Path(path), tree, where)


def _index(archive: zipfile.ZipFile) -> tuple[dict[str, Any], dict[int, tuple[int, int]]]:
    import torch

    infos = {info.filename: info for info in archive.infolist()}
    pickles = [name for name in infos if name.endswith("/data.pkl") and name.count("/") == 1]
    if len(pickles) != 1:
        raise _NotIndexable("not one data.pkl")
    root = pickles[0][: -len("data.pkl")]
    order = infos.get(root + "byteorder")
    if order is not None and archive.read(order).strip() != b"little":
        raise _NotIndexable("big-endian")
    tree = _Unpickler(io.BytesIO(archive.read(infos[root + "data.pkl"]))).load()
    if not isinstance(tree, dict):
        raise _NotIndexable("not a dict")
    where: dict[int, tuple[int, int]] = {}
    # storage (key, dtype, size) -> zip header offset of its record, checked against that dtype and size
    # (a pickle may name one record twice, as storages of different dtypes or sizes: each is checked)
    records: dict[_Storage, int] = {}

    def record(storage: _Storage, itemsize: int) -> int:
        header = records.get(storage)
        if header is None:
            info = infos.get(f"{root}data/{storage.key}")
            nbytes = storage.numel * itemsize
            if info is None or info.compress_type != zipfile.ZIP_STORED or info.file_size != nbytes:
                raise _NotIndexable("a storage record that is missing, compressed or of another size")
            header = records[storage] = info.header_offset
        return header

    def meta(stored: _Stored) -> torch.Tensor:
        storage = stored.storage
        numel = math.prod(stored.size)
        last = stored.offset + sum((n - 1) * s for n, s in zip(stored.size, stored.stride, strict=True))
        dtype: torch.dtype = getattr(torch, storage.dtype)
        header = record(storage, dtype.itemsize)
        if numel and (stored.offset < 0 or last >= storage.numel):
            raise _NotIndexable("a tensor outside its storage")
        tensor = torch.empty_strided(stored.size, stored.stride, dtype=dtype, device="meta")
        if numel and tensor.is_contiguous():
            where[id(tensor)] = (header, stored.offset * dtype.itemsize)
        return tensor

    def walk(node: Any) -> Any:
        if isinstance(node, _Stored):
            return meta(node)
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}  # a _Dict becomes a plain dict
        if isinstance(node, list | tuple):
            return type(node)(walk(value) for value in node)
        return node

    return walk(tree), where
