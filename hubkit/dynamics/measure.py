"""Per-group measures across checkpoints, streamed tensor by tensor with float64 accumulators.

The loop runs over keys, then checkpoints: for one key it holds the first and final checkpoint's tensor,
the previous one and the current one (four tensors of that key), and converts them to float64 in chunks
of :data:`CHUNK` elements, so memory stays at a few tensors plus the state dict's metadata whatever the
number of checkpoints, and every checkpoint's bytes are read once. A tensor bitwise equal to the previous
checkpoint's (a frozen layer) is compared, not recomputed: its sums are those of the previous checkpoint.

Norms are over floating-point tensors only; integer tensors (``num_batches_tracked``) count towards the
"unchanged" shares and nothing else.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hubkit.dynamics.model import Grouping, KindSeries, Step
from hubkit.dynamics.weights import WeightSource
from hubkit.errors import CheckpointError

if TYPE_CHECKING:
    import numpy as np
    import torch

CHUNK = 1 << 17  # elements per float64 chunk: 1 MiB per buffer, five buffers stay in cache
KINDS = ("params", "buffers")
# accumulated sums per (group, kind, checkpoint)
_SUMS = ("sq_prev", "sq_first", "sq_final", "dot_final", "sq_norm")
_COUNTS = ("same_tensors", "same_bytes", "nan", "inf")


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

        shape = (groups, 2, checkpoints)
        self.sums = {name: np.zeros(shape, dtype=np.float64) for name in _SUMS}
        self.counts = {name: np.zeros(shape, dtype=np.int64) for name in _COUNTS}
        self.tensors = np.zeros((groups, 2), dtype=np.int64)
        self.numel = np.zeros((groups, 2), dtype=np.int64)
        self.nbytes = np.zeros((groups, 2), dtype=np.int64)


def _check_metadata(
    sources: Sequence[WeightSource],
) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    reference = sources[-1].metadata()
    for source in sources[:-1]:
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
    return reference


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    import torch

    return bool(torch.equal(a.reshape(-1).view(torch.uint8), b.reshape(-1).view(torch.uint8)))


class _Chunks:
    """Float64 chunk buffers reused across every tensor (no allocation in the loop)."""

    def __init__(self) -> None:
        import torch

        self.c, self.p, self.z, self.f, self.d = (torch.empty(CHUNK, dtype=torch.float64) for _ in range(5))

    def pair_sums(
        self, cur: torch.Tensor, prev: torch.Tensor, first: torch.Tensor, final: torch.Tensor, moved: bool
    ) -> tuple[float, float, float, float, float]:
        """(‖c−p‖², ‖c−z‖², ‖c−f‖², ⟨c,f⟩, ‖c‖²) over flat float tensors, chunk by chunk in float64."""
        import torch

        flat = [t.reshape(-1) for t in (cur, prev, first, final)]
        total = [0.0] * 5
        n = flat[0].numel()
        for start in range(0, n, CHUNK):
            stop = min(n, start + CHUNK)
            size = stop - start
            c, p, z, f, d = (b[:size] for b in (self.c, self.p, self.z, self.f, self.d))
            c.copy_(flat[0][start:stop])
            z.copy_(flat[2][start:stop])
            f.copy_(flat[3][start:stop])
            if moved:
                p.copy_(flat[1][start:stop])
                torch.sub(c, p, out=d)
                total[0] += float(torch.dot(d, d))
            torch.sub(c, z, out=d)
            total[1] += float(torch.dot(d, d))
            torch.sub(c, f, out=d)
            total[2] += float(torch.dot(d, d))
            total[3] += float(torch.dot(c, f))
            total[4] += float(torch.dot(c, c))
        return total[0], total[1], total[2], total[3], total[4]


def measure(sources: Sequence[WeightSource], grouping: Grouping) -> Measured:
    """Stream every tensor of ``sources`` (checkpoints in order) and measure each group of ``grouping``.

    Args:
        sources: the checkpoints, oldest first (at least one); all must hold the same keys and shapes.
        grouping: the groups (keys of the checkpoints; keys in no group are listed in ``ungrouped``).

    Returns:
        One :class:`KindSeries` per group and kind, the bytes read and the wall time.

    Raises:
        CheckpointError: two checkpoints do not hold the same tensors.

    Example:
        >>> measured = measure([MemoryWeights(a, name="a"), MemoryWeights(b, name="b")], grouping)
        >>> measured.series[0][0].steps[1].rel_change_prev
        0.0123
    """
    import torch

    if not sources:
        raise CheckpointError("no checkpoints to analyse", hint="Select at least one checkpoint.")
    start_time = time.perf_counter()
    meta = _check_metadata(sources)
    index = grouping.group_of()
    count = len(sources)
    totals = _Totals(len(grouping.groups), count)
    chunks = _Chunks()
    ungrouped = tuple(k for k in meta if k not in index)
    # One thread: the chunks are cache-sized, and BLAS threads on small vectors cost more than they save
    # (under load, a threaded float64 dot of 1 MiB took milliseconds instead of 25 µs).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        bytes_read = _measure_all(sources, meta, index, count, totals, chunks)
    finally:
        torch.set_num_threads(threads)
    seconds = time.perf_counter() - start_time
    return Measured(_series(grouping, totals), bytes_read, seconds, ungrouped)


def _measure_all(
    sources: Sequence[WeightSource],
    meta: dict[str, tuple[tuple[int, ...], torch.dtype]],
    index: Mapping[str, tuple[int, str]],
    count: int,
    totals: _Totals,
    chunks: _Chunks,
) -> int:
    import torch

    bytes_read = 0
    with torch.no_grad():
        for key, (shape, dtype) in meta.items():
            if key not in index:
                continue
            g, kind = index[key]
            k = KINDS.index(kind)
            numel = math.prod(shape)
            nbytes = numel * dtype.itemsize
            totals.tensors[g, k] += 1
            totals.numel[g, k] += numel
            totals.nbytes[g, k] += nbytes
            bytes_read += nbytes * count
            _measure_key(sources, key, g, k, dtype.is_floating_point and numel > 0, nbytes, totals, chunks)
    return bytes_read


def _measure_key(
    sources: Sequence[WeightSource],
    key: str,
    g: int,
    k: int,
    is_float: bool,
    nbytes: int,
    totals: _Totals,
    chunks: _Chunks,
) -> None:
    import torch

    sums, counts = totals.sums, totals.counts
    last = len(sources) - 1
    first = sources[0].tensor(key)
    final = sources[last].tensor(key) if last else first
    prev = first
    contribution = (0.0, 0.0, 0.0, 0.0, 0.0)
    for i in range(last + 1):
        cur = first if i == 0 else final if i == last else sources[i].tensor(key)
        moved = i > 0 and not _same_bits(cur, prev)
        if i > 0 and not moved:
            counts["same_tensors"][g, k, i] += 1
            counts["same_bytes"][g, k, i] += nbytes
        if is_float:
            if i == 0 or moved:
                contribution = chunks.pair_sums(cur, prev, first, final, moved)
                if not bool(torch.isfinite(cur).all()):
                    counts["nan"][g, k, i] += int(torch.isnan(cur).sum())
                    counts["inf"][g, k, i] += int(torch.isinf(cur).sum())
            else:  # bitwise unchanged: the same sums as the previous checkpoint, no change since
                contribution = (0.0, *contribution[1:])
                counts["nan"][g, k, i] += counts["nan"][g, k, i - 1]
                counts["inf"][g, k, i] += counts["inf"][g, k, i - 1]
            for name, value in zip(_SUMS, contribution, strict=True):
                sums[name][g, k, i] += value
        if i > 0 and prev is not first and prev is not final:
            sources[i - 1].release(prev)
        prev = cur
    sources[0].release(first)
    if last:
        sources[last].release(final)


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
    s, c = totals.sums, totals.counts
    sq_norm: np.ndarray = s["sq_norm"][g, k]
    count = sq_norm.shape[0]
    tensors, nbytes = int(totals.tensors[g, k]), int(totals.nbytes[g, k])
    steps = []
    for i in range(count):
        norm_i, norm_final = float(sq_norm[i]), float(sq_norm[count - 1])
        dot = float(s["dot_final"][g, k, i])
        cos = dot / (math.sqrt(norm_i) * math.sqrt(norm_final)) if norm_i > 0 and norm_final > 0 else None
        steps.append(
            Step(
                rel_change_prev=_ratio(float(s["sq_prev"][g, k, i]), float(sq_norm[i - 1])) if i else None,
                rel_change_first=_ratio(float(s["sq_first"][g, k, i]), float(sq_norm[0])),
                dist_final=math.sqrt(float(s["sq_final"][g, k, i])),
                rel_dist_final=_ratio(float(s["sq_final"][g, k, i]), norm_final),
                cos_final=cos,
                norm=math.sqrt(norm_i),
                unchanged_tensors=int(c["same_tensors"][g, k, i]) / tensors if i else None,
                unchanged_bytes=(int(c["same_bytes"][g, k, i]) / nbytes if nbytes else 1.0) if i else None,
                nan=int(c["nan"][g, k, i]),
                inf=int(c["inf"][g, k, i]),
            )
        )
    return tuple(steps)
