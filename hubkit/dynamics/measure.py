"""Per-group measures across checkpoints, streamed chunk by chunk with float64 accumulators.

The checkpoints are measured in windows of consecutive checkpoints: all of them in one window when the
caller waits for the whole report (up to :data:`WINDOW`; each weight byte is read once), a few at a time,
in order, when it wants each checkpoint's figures as soon as they are known (:func:`measure`'s
``on_checkpoint``). A window also reads the checkpoint before it, the first and the final one.

Within a window, the float tensors of one group and kind are cut into chunks of at most :data:`CHUNK`
elements of one dtype (small tensors packed together, large ones split). A chunk of each checkpoint is read
(:meth:`WeightSource.read_into`: ``pread`` from the file) into a staging buffer, where consecutive
checkpoints' bytes are compared, then converted in one copy into one float64 block whose rows form a chain
(:class:`_Window`), and ``torch.nn.functional.pdist`` over each three rows of the chain gives the distances
to the previous, the first and the final checkpoint in one fused pass over two rows each: differences,
squares and sums, all in float64 (a difference of two float32 values is exact in float64). Memory stays at
one block and its staging buffer plus the state dicts' metadata, whatever the number of checkpoints or the
size of the largest tensor.

Sums of one group are additive over its tensors, which is what lets tensors share a chunk. The dot product
with the final checkpoint (for the cosine) is not summed: ⟨c, f⟩ = (‖c‖² + ‖f‖² − ‖c − f‖²) / 2 from the
group's sums; the three terms are positive, so it loses nothing unless c and f are orthogonal to ~1e-10.

Norms are over floating-point tensors only; integer tensors (``num_batches_tracked``) count towards the
"unchanged" shares and nothing else.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hubkit.dynamics.model import Grouping, KindSeries, Step
from hubkit.dynamics.parallel import ForkedShare, can_fork
from hubkit.dynamics.weights import WeightSource
from hubkit.errors import CheckpointError

if TYPE_CHECKING:
    import numpy as np
    import torch

CHUNK = 1 << 16  # elements per row of a float64 block (512 KiB a row, two rows per checkpoint)
WINDOW = 12  # checkpoints measured together at most (more: a larger block)
STREAM = (2, 3, 5, 8)  # checkpoints of the first windows when each pair is told as soon as it is measured
KINDS = ("params", "buffers")
# accumulated squared distances per (group, kind, measure, checkpoint): to the previous, first and final
# checkpoint, and to zero (the norm)
_SUMS = ("sq_prev", "sq_first", "sq_final", "sq_norm")
_COUNTS = ("same_tensors", "same_bytes", "nan", "inf")
_WORKERS = 2  # shares of a whole (not streamed) measure, when the machine has the cores: each measures its
# own tensors into its own totals, the second in a forked worker process where that is safe
# (:mod:`hubkit.dynamics.parallel`), otherwise in a thread (torch's kernels release the GIL)
_FORK = True
# integer views for comparing bits, by element size: wider words make torch.equal faster than bytes
_SAME = {1: "uint8", 2: "int16", 4: "int32", 8: "int64"}

# Told, in order, each checkpoint's index (from 1) and the measures of it and the checkpoint before it, as
# soon as both are measured. See :func:`measure`.
CheckpointCallback = Callable[[int, "Measured"], None]


@dataclass(frozen=True)
class Measured:
    """What :func:`measure` returns: one series per group and kind (None where the group has none)."""

    series: tuple[tuple[KindSeries | None, KindSeries | None], ...]  # (params, buffers) per group
    bytes_read: int  # tensor bytes read, all checkpoints together
    seconds: float  # wall time
    ungrouped: tuple[str, ...]  # keys of the checkpoints that no group holds (measured nowhere)


class _Totals:
    def __init__(self, groups: int, checkpoints: int) -> None:
        import numpy as np

        self.sums = np.zeros((groups, 2, len(_SUMS), checkpoints), dtype=np.float64)
        self.counts = {name: np.zeros((groups, 2, checkpoints), dtype=np.int64) for name in _COUNTS}
        self.tensors = np.zeros((groups, 2), dtype=np.int64)
        self.numel = np.zeros((groups, 2), dtype=np.int64)
        self.nbytes = np.zeros((groups, 2), dtype=np.int64)

    def sharing_sizes(self) -> _Totals:
        """Empty sums and counts over the same tensors: this one's tensor counts and sizes, shared."""
        out = _Totals(self.tensors.shape[0], self.sums.shape[-1])
        out.tensors, out.numel, out.nbytes = self.tensors, self.numel, self.nbytes
        return out

    def add(self, other: _Totals) -> None:
        """Add ``other``'s sums and counts (measured over other tensors of the same groups)."""
        self.sums += other.sums
        for name in _COUNTS:
            self.counts[name] += other.counts[name]

    def pair(self, i: int) -> _Totals:
        """The totals of checkpoints ``i − 1`` and ``i`` alone (the earlier is the first, the later the
        final): what measuring the two of them would give."""
        pair = _Totals(self.tensors.shape[0], 2)
        for name in ("tensors", "numel", "nbytes"):
            setattr(pair, name, getattr(self, name))
        prev, norm = _SUMS.index("sq_prev"), _SUMS.index("sq_norm")
        step = self.sums[:, :, prev, i]
        pair.sums[:, :, prev, 1] = step
        pair.sums[:, :, _SUMS.index("sq_first"), 1] = step
        pair.sums[:, :, _SUMS.index("sq_final"), 0] = step
        pair.sums[:, :, norm, :] = self.sums[:, :, norm, i - 1 : i + 1]
        for name in _COUNTS:
            pair.counts[name][:, :, :] = self.counts[name][:, :, i - 1 : i + 1]
            if name.startswith("same"):
                pair.counts[name][:, :, 0] = 0
        return pair


@dataclass(frozen=True)
class _Window:
    """Checkpoints ``targets`` measured together, and the layout of their float64 blocks.

    A block's rows form a chain ``x0, h0, x1, h1, …, xn, hn``: the window's checkpoints in order (after the
    one before it, when there is one) with, between each two, a copy of the first (z) or the final (f)
    checkpoint, alternately. pdist over each three rows ``x_t, h_t, x_t+1`` gives ‖x_t − h_t‖, ‖x_t − x_t+1‖
    and ‖h_t − x_t+1‖: every checkpoint of the chain meets its predecessor, z and f, so 3 distances per
    checkpoint instead of every pair of rows. Norms are taken over the x rows.
    """

    targets: tuple[int, ...]  # (4, 5, 6): the checkpoints whose measures this window completes
    chain: tuple[int, ...]  # (3, 9, 4, 0, 5, 9, 6, 0): the checkpoint of each row of the block
    calls: tuple[tuple[int, int], ...]  # ((0, 3), (2, 3), …, (6, 2)): (first row, rows) per pdist call
    index: tuple[tuple[int, ...], ...]  # per measure of _SUMS, per target: position in the values
    fills: tuple[tuple[int, int], ...]  # ((0, 3), (2, 4), (1, 9), …): (row, checkpoint) read from the file
    spreads: tuple[tuple[int, int, int], ...]  # ((1, 5, 2),): (row, first row, rows) copied every 4th row

    @classmethod
    def of(cls, targets: Sequence[int], count: int) -> _Window:
        last = count - 1
        xs = ([targets[0] - 1] if targets[0] > 0 else []) + list(targets)
        chain: list[int] = []
        for t, x in enumerate(xs):
            chain += [x, last if t % 2 == 0 else 0]
        calls = (*((2 * t, 3) for t in range(len(xs) - 1)), (len(chain) - 2, 2))
        # pdist's output, call after call: (x_t, h_t), (x_t, x_t+1), (h_t, x_t+1); then (x_n, h_n); then
        # the norm of every x row; then a zero
        near: dict[tuple[int, int], int] = {}
        for t in range(len(xs) - 1):
            near[(t, 2 * t + 1)] = 3 * t
            near[(t, 2 * t + 2)] = 3 * t + 1
            near[(t + 1, 2 * t + 1)] = 3 * t + 2
        n = len(xs) - 1
        near[(n, 2 * n + 1)] = 3 * n
        norms = 3 * n + 1
        zero = norms + len(xs)

        def hub(t: int, checkpoint: int) -> int:
            for row in (2 * t - 1, 2 * t + 1):
                if 0 <= row < len(chain) and chain[row] == checkpoint and (t, row) in near:
                    return near[(t, row)]
            raise AssertionError((t, checkpoint, chain))  # every x but the first meets z and f

        index: list[list[int]] = [[], [], [], []]
        for i in targets:
            t = xs.index(i)
            index[0].append(3 * (t - 1) + 1 if i > 0 else zero)  # (x_t−1, x_t)
            index[1].append(hub(t, 0) if i > 0 else zero)
            index[2].append(hub(t, last) if i < last else zero)
            index[3].append(norms + t)
        # every checkpoint read once, into its x row if it has one; hub rows of one checkpoint come every
        # fourth row (z and f alternate) and are copied from it in one go
        first_row: dict[int, int] = {}
        for row in [*range(0, len(chain), 2), *range(1, len(chain), 2)]:
            first_row.setdefault(chain[row], row)
        spreads = []
        for hub_first in (1, 3):
            rows = list(range(hub_first, len(chain), 4))
            if rows:
                source = first_row[chain[rows[0]]]
                rest = [r for r in rows if r != source]
                if rest:
                    spreads.append((source, rest[0], len(rest)))
        fills = tuple((row, j) for j, row in first_row.items())
        return cls(tuple(targets), tuple(chain), calls, tuple(tuple(m) for m in index), fills, tuple(spreads))

    @property
    def reads(self) -> list[int]:
        """The checkpoints the window reads, once each."""
        return sorted(set(self.chain))


def _windows(count: int, streaming: bool) -> Iterator[range]:
    """The targets of each window, in order: windows of :data:`WINDOW` checkpoints, or growing ones when
    the caller streams (:data:`STREAM`): the first pair comes at once, later windows share the reads of
    the checkpoint before them, the first and the final one among more checkpoints."""
    start, n = 0, 0
    while start < count:
        size = STREAM[n] if streaming and n < len(STREAM) else WINDOW
        yield range(start, min(count, start + size))
        start, n = start + size, n + 1


def _check_metadata(
    sources: Sequence[WeightSource], indices: Sequence[int], reference: Mapping[str, object]
) -> None:
    for i in indices:
        source = sources[i]
        meta = source.metadata()
        if set(meta) != set(reference):
            missing = sorted(set(reference) - set(meta))[:3]
            extra = sorted(set(meta) - set(reference))[:3]
            raise CheckpointError(
                f"{source.name} does not hold the same tensors as {sources[-1].name} "
                f"(missing {missing}, extra {extra})",
                hint="Compare checkpoints of one run (one architecture); select epochs with --select.",
            )
        wrong = [k for k in reference if meta[k] != reference[k]]
        if wrong:
            k = wrong[0]
            raise CheckpointError(
                f"{source.name}: tensor {k} is {meta[k]} but {reference[k]} in {sources[-1].name}",
                hint="Compare checkpoints of one run (one architecture); select epochs with --select.",
            )


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether two tensors of one dtype hold the same bits (compared as integers of their element size)."""
    import torch

    word = getattr(torch, _SAME.get(a.element_size(), "uint8"))
    return bool(torch.equal(a.reshape(-1).view(word), b.reshape(-1).view(word)))


def measure(
    sources: Sequence[WeightSource],
    grouping: Grouping,
    *,
    on_checkpoint: CheckpointCallback | None = None,
) -> Measured:
    """Stream every tensor of ``sources`` (checkpoints in order) and measure each group of ``grouping``.

    Args:
        sources: the checkpoints, oldest first (at least one); all must hold the same keys and shapes.
        grouping: the groups (keys of the checkpoints; keys in no group are listed in ``ungrouped``).
        on_checkpoint: told, in order, each checkpoint ``i`` from 1 and the measures of checkpoints
            ``i − 1`` and ``i`` alone, as soon as they are known (before the whole measure returns). The
            checkpoints are then walked in small windows (each reads the checkpoint before it, the first
            and the final one again), otherwise all at once (each byte read once). A source no later
            window reads is closed as soon as its last window is done.

    Returns:
        One :class:`KindSeries` per group and kind, the bytes read and the wall time.

    Raises:
        CheckpointError: two checkpoints do not hold the same tensors.

    Example:
        >>> measured = measure([MemoryWeights(a, name="a"), MemoryWeights(b, name="b")], grouping)
        >>> measured.series[0][0].steps[1].rel_change_prev
        0.0123
    """
    if not sources:
        raise CheckpointError("no checkpoints to analyse", hint="Select at least one checkpoint.")
    start_time = time.perf_counter()
    count = len(sources)
    meta = sources[-1].metadata()
    index = grouping.group_of()
    totals = _Totals(len(grouping.groups), count)
    floats: dict[tuple[int, int], list[str]] = {}  # (group, kind) -> float keys, in file order
    others: list[str] = []
    for key, (shape, dtype) in meta.items():
        if key not in index:
            continue
        g, kind = index[key]
        k = KINDS.index(kind)
        numel = math.prod(shape)
        totals.tensors[g, k] += 1
        totals.numel[g, k] += numel
        totals.nbytes[g, k] += numel * dtype.itemsize
        if dtype.is_floating_point and numel > 0:
            floats.setdefault((g, k), []).append(key)
        else:
            others.append(key)
    state_bytes = int(totals.nbytes.sum())
    ungrouped = tuple(k for k in meta if k not in index)
    # Streamed (publish, beside conversions and uploads): one thread. Whole: one per core, up to _WORKERS.
    workers = 1 if on_checkpoint is not None else max(1, min(_WORKERS, os.cpu_count() or 1))
    shares = _shares(floats, meta, workers)
    parts = [totals.sharing_sizes() for _ in shares]
    blocks = [_Block(sources, meta, part, index) for part in parts]
    checked = {count - 1}
    forked: ForkedShare | None = None
    if len(blocks) > 1 and _FORK and can_fork():  # the second share in a worker process (see parallel)
        forked = _fork_share(sources, meta, blocks[1], shares[1])
        if forked is not None:
            checked.update(range(count))
    pool = ThreadPoolExecutor(max_workers=len(blocks)) if len(blocks) > 1 and forked is None else None
    bytes_read = 0
    try:
        for targets in _windows(count, on_checkpoint is not None):
            window = _Window.of(targets, count)
            reads = window.reads
            _check_metadata(sources, [j for j in reads if j not in checked], meta)
            checked.update(reads)
            if pool is None:
                blocks[0].window(window, shares[0], others)
            else:
                jobs = [
                    pool.submit(block.window, window, share, others if n == 0 else [])
                    for n, (block, share) in enumerate(zip(blocks, shares, strict=True))
                ]
                for job in jobs:
                    job.result()
            bytes_read += state_bytes * len(reads)
            for j in reads:  # no later window reads it (the next one reads the last target, 0 and the final)
                if 0 < j < targets[-1] < count - 1:
                    sources[j].close()
            if on_checkpoint is not None:
                now = _combined(parts)
                for i in targets:
                    if i:
                        seconds = time.perf_counter() - start_time
                        on_checkpoint(
                            i, Measured(_series(grouping, now.pair(i)), bytes_read, seconds, ungrouped)
                        )
        if forked is not None:  # the worker's share
            sums, *counts = forked.result()
            parts[1].sums[...] = sums
            for name, array in zip(_COUNTS, counts, strict=True):
                parts[1].counts[name][...] = array
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if forked is not None:
            forked.cancel()
    seconds = time.perf_counter() - start_time
    return Measured(_series(grouping, _combined(parts)), bytes_read, seconds, ungrouped)


def _fork_share(
    sources: Sequence[WeightSource],
    meta: Mapping[str, tuple[tuple[int, ...], torch.dtype]],
    block: _Block,
    share: dict[tuple[int, int], list[str]],
) -> ForkedShare | None:
    """Fork a worker that measures ``share`` with ``block`` (whole analysis, every window); the two
    processes locate the tensors of half of the checkpoints each (the final one's are known already) and
    swap their layouts. None when no process can be had (the caller uses a thread)."""
    count = len(sources)
    rest = range(count - 1)
    half = (len(rest) + 1) // 2  # the final one is located already, but the worker starts by forking
    ours, theirs = rest[:half], rest[half:]
    windows = [_Window.of(targets, count) for targets in _windows(count, False)]

    def work(layouts: bytes) -> list[np.ndarray]:
        _adopt(sources, layouts)
        for window in windows:
            block.window(window, share, [])
        part = block.totals
        return [part.sums, *(part.counts[name] for name in _COUNTS)]

    try:
        forked = ForkedShare(lambda: _layouts(sources, theirs), work)
    except OSError:
        return None
    try:
        _adopt(sources, forked.swap(_layouts(sources, ours)))
        _check_metadata(sources, rest, meta)
    except BaseException:
        forked.cancel()
        raise
    return forked


def _layouts(sources: Sequence[WeightSource], indices: Iterable[int]) -> bytes:
    """The layouts of checkpoints ``indices`` (locating their tensors), as JSON for the other process."""
    return json.dumps({str(j): sources[j].layout() for j in indices}).encode()


def _adopt(sources: Sequence[WeightSource], data: bytes) -> None:
    """Adopt the other process's layouts (what :func:`_layouts` sent)."""
    for j, layout in json.loads(data).items():
        if layout is not None:
            sources[int(j)].adopt({k: (v[0], v[1], tuple(v[2])) for k, v in layout.items()})


def _combined(parts: Sequence[_Totals]) -> _Totals:
    """The totals of all ``parts`` (each measured over its own tensors; the one part itself when alone)."""
    if len(parts) == 1:
        return parts[0]
    out = parts[0].sharing_sizes()
    for part in parts:
        out.add(part)
    return out


def _shares(
    floats: Mapping[tuple[int, int], list[str]],
    meta: Mapping[str, tuple[tuple[int, ...], torch.dtype]],
    workers: int,
) -> list[dict[tuple[int, int], list[str]]]:
    """``floats`` split into ``workers`` shares of about equal size, whole tensors each (largest first)."""
    if workers == 1:
        return [dict(floats)]
    sizes = [0] * workers
    shares: list[dict[tuple[int, int], list[str]]] = [{} for _ in range(workers)]
    keys = [(gk, key) for gk, ks in floats.items() for key in ks]
    for gk, key in sorted(keys, key=lambda item: -math.prod(meta[item[1]][0])):
        n = sizes.index(min(sizes))
        shares[n].setdefault(gk, []).append(key)
        sizes[n] += math.prod(meta[key][0])
    order = {key: i for i, (_, key) in enumerate(keys)}  # file order within each share's groups
    return [{gk: sorted(ks, key=order.__getitem__) for gk, ks in share.items()} for share in shares]


class _Block:
    """Measures one window: float chunks through one float64 block and pdist, other tensors compared."""

    def __init__(
        self,
        sources: Sequence[WeightSource],
        meta: Mapping[str, tuple[tuple[int, ...], torch.dtype]],
        totals: _Totals,
        index: Mapping[str, tuple[int, str]],
    ) -> None:
        import torch

        self.sources, self.meta, self.totals, self.index = sources, meta, totals, index
        rows = 2 * (min(len(sources), WINDOW) + 1)
        self.buffer = torch.empty(rows * CHUNK, dtype=torch.float64)
        self.zero = torch.zeros(1, dtype=torch.float64)
        self.staging = torch.empty(0, dtype=torch.uint8)
        self.moved: dict[tuple[str, int], bool] = {}

    def window(self, window: _Window, floats: Mapping[tuple[int, int], list[str]], others: list[str]) -> None:
        import torch

        index = torch.tensor(window.index)
        with torch.no_grad():
            for (g, k), keys in floats.items():
                self.moved = {}
                pieces: list[tuple[str, int, int]] = []
                used = 0
                for key in keys:
                    shape, dtype = self.meta[key]
                    numel = math.prod(shape)
                    if pieces and self.meta[pieces[0][0]][1] != dtype:  # a chunk holds one dtype
                        self._flush(window, index, g, k, pieces, used)
                        pieces, used = [], 0
                    for start in range(0, numel, CHUNK):
                        stop = min(numel, start + CHUNK)
                        if used + stop - start > CHUNK:
                            self._flush(window, index, g, k, pieces, used)
                            pieces, used = [], 0
                        pieces.append((key, start, stop))
                        used += stop - start
                if pieces:
                    self._flush(window, index, g, k, pieces, used)
                self._count(window, g, k, keys)
            for key in others:
                self._other(window, key)

    def _flush(
        self,
        window: _Window,
        index: torch.Tensor,
        g: int,
        k: int,
        pieces: list[tuple[str, int, int]],
        used: int,
    ) -> None:
        """One chunk of every checkpoint of the window into the block, then its distances into the totals."""
        import torch

        rows = len(window.chain)
        block = self.buffer[: rows * used].view(rows, used)
        dtype = self.meta[pieces[0][0]][1]
        size = dtype.itemsize
        fills = window.fills
        stage = self._stage(len(fills) * used * size).view(len(fills), used * size)
        slot: dict[int, int] = {}
        for n, (_, j) in enumerate(fills):  # the read: each checkpoint's chunk, its bytes as they are
            row, at = stage[n], 0
            for key, a, b in pieces:
                self.sources[j].read_into(key, a, b, row[at : at + (b - a) * size])
                at += (b - a) * size
            slot[j] = n
        typed = stage.view(dtype)
        even = 0  # the fills of rows 0, 2, 4, …: converted to float64 in one copy
        while even < len(fills) and fills[even][0] == 2 * even:
            even += 1
        block[0 : 2 * even : 2].copy_(typed[:even])
        for n in range(even, len(fills)):
            block[fills[n][0]].copy_(typed[n])
        for source, top, count in window.spreads:  # copies of the first and the final checkpoint
            block[top : top + 4 * (count - 1) + 1 : 4].copy_(block[source].expand(count, used))
        pdist = torch.nn.functional.pdist
        values = [pdist(block[top : top + count]) for top, count in window.calls]
        values += [torch.linalg.vector_norm(block[0::2], dim=1), self.zero]
        squares = torch.cat(values)[index].square_().numpy()
        targets = list(window.targets)
        self.totals.sums[g, k][:, targets] += squares
        prev, norm = _SUMS.index("sq_prev"), _SUMS.index("sq_norm")
        for t, i in enumerate(targets):
            if not math.isfinite(squares[norm, t]):  # a NaN or ±Inf somewhere in this chunk
                row = typed[slot[i]]
                self.totals.counts["nan"][g, k, i] += int(torch.isnan(row).sum())
                self.totals.counts["inf"][g, k, i] += int(torch.isinf(row).sum())
            if i == 0:
                continue
            step = squares[prev, t]
            if len(pieces) == 1 and math.isfinite(step) and step > 0:
                self.moved[(pieces[0][0], i)] = True  # a value changed: the bits did (no need to compare)
                continue
            # bits compared where the distance cannot tell: no change in value (±0 may still differ), NaN
            # or Inf, or several tensors in the chunk
            later, earlier, at = typed[slot[i]], typed[slot[i - 1]], 0
            for key, a, b in pieces:
                if not self.moved.get((key, i), False):
                    self.moved[(key, i)] = not _same_bits(later[at : at + b - a], earlier[at : at + b - a])
                at += b - a

    def _stage(self, nbytes: int) -> torch.Tensor:
        """The staging buffer for a chunk's raw bytes (grown when a chunk needs more)."""
        import torch

        if self.staging.numel() < nbytes:
            self.staging = torch.empty(nbytes, dtype=torch.uint8)
        return self.staging[:nbytes]

    def _count(self, window: _Window, g: int, k: int, keys: list[str]) -> None:
        for i in window.targets:
            if i == 0:
                continue
            for key in keys:
                if not self.moved.get((key, i), False):
                    self._unchanged(g, k, i, key)

    def _unchanged(self, g: int, k: int, i: int, key: str) -> None:
        shape, dtype = self.meta[key]
        self.totals.counts["same_tensors"][g, k, i] += 1
        self.totals.counts["same_bytes"][g, k, i] += math.prod(shape) * dtype.itemsize

    def _other(self, window: _Window, key: str) -> None:
        """A tensor that is not measured (integer, or empty): only whether it changed."""
        g, kind = self.index[key]
        k = KINDS.index(kind)
        tensors = {j: self.sources[j].tensor(key) for j in window.reads}
        for i in window.targets:
            if i and _same_bits(tensors[i], tensors[i - 1]):
                self._unchanged(g, k, i, key)
        for j, tensor in tensors.items():
            self.sources[j].release(tensor)


def _ratio(num: float, den: float) -> float | None:
    if den > 0:
        return math.sqrt(num) / math.sqrt(den)
    return None if num == 0 else math.inf


def _series(grouping: Grouping, totals: _Totals) -> tuple[tuple[KindSeries | None, KindSeries | None], ...]:
    out = []
    for g, group in enumerate(grouping.groups):
        pair: list[KindSeries | None] = []
        for k, kind in enumerate(KINDS):
            if totals.tensors[g, k] == 0:
                pair.append(None)
                continue
            pair.append(
                KindSeries(
                    kind=kind,  # type: ignore[arg-type]
                    tensors=int(totals.tensors[g, k]),
                    numel=int(totals.numel[g, k]),
                    nbytes=int(totals.nbytes[g, k]),
                    steps=_steps(totals, g, k),
                    keys=group.params if kind == "params" else group.buffers,
                )
            )
        out.append((pair[0], pair[1]))
    return tuple(out)


def _steps(totals: _Totals, g: int, k: int) -> tuple[Step, ...]:
    sums: np.ndarray = totals.sums[g, k]
    sq_prev, sq_first, sq_final, sq_norm = (sums[_SUMS.index(name)] for name in _SUMS)
    c = totals.counts
    count = sq_norm.shape[0]
    tensors, nbytes = int(totals.tensors[g, k]), int(totals.nbytes[g, k])
    norm_final = float(sq_norm[count - 1])
    steps = []
    for i in range(count):
        norm_i, final_i = float(sq_norm[i]), float(sq_final[i])
        cos = None
        if norm_i > 0 and norm_final > 0:
            dot = (norm_i + norm_final - final_i) / 2  # ‖c − f‖² = ‖c‖² + ‖f‖² − 2⟨c, f⟩
            cos = dot / (math.sqrt(norm_i) * math.sqrt(norm_final))
        steps.append(
            Step(
                rel_change_prev=_ratio(float(sq_prev[i]), float(sq_norm[i - 1])) if i else None,
                rel_change_first=_ratio(float(sq_first[i]), float(sq_norm[0])),
                dist_final=math.sqrt(final_i),
                rel_dist_final=_ratio(final_i, norm_final),
                cos_final=cos,
                norm=math.sqrt(norm_i),
                unchanged_tensors=int(c["same_tensors"][g, k, i]) / tensors if i else None,
                unchanged_bytes=(int(c["same_bytes"][g, k, i]) / nbytes if nbytes else 1.0) if i else None,
                nan=int(c["nan"][g, k, i]),
                inf=int(c["inf"][g, k, i]),
            )
        )
    return tuple(steps)
