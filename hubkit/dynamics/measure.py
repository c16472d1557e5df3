"""Per-group measures across checkpoints, streamed tensor by tensor with float64 accumulators.

The loop runs over keys, then chunks of :data:`CHUNK` elements, then checkpoints: one chunk of one tensor
is read from every checkpoint (memory-mapped), converted to float64 once, compared with the first, the
previous and the final checkpoint's, and its pages are released before the next chunk. So every byte is
read once, and memory stays at a few chunks plus the state dicts' metadata, whatever the number of
checkpoints or the size of the largest tensor. A chunk bitwise equal to the previous checkpoint's (a
frozen layer) is compared, not recomputed: its sums are those of the previous checkpoint.

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


def _sq(x: torch.Tensor) -> float:
    """‖x‖² in float64 through aten's reduction: BLAS dot calls spin their own threads, and on a busy
    machine one took milliseconds instead of microseconds."""
    import torch

    return float(torch.linalg.vector_norm(x)) ** 2


def _dot(x: torch.Tensor, y: torch.Tensor, scratch: torch.Tensor) -> float:
    import torch

    return float(torch.mul(x, y, out=scratch).sum())


class _Chunks:
    """Float64 chunk buffers reused across every tensor (no allocation in the loop)."""

    def __init__(self) -> None:
        import torch

        self.first, self.final, self.a, self.b, self.diff = (
            torch.empty(CHUNK, dtype=torch.float64) for _ in range(5)
        )

    def sums(self, parts: Sequence[torch.Tensor], out: list[list[float]]) -> list[bool]:
        """Add one chunk of every checkpoint to ``out[i]`` = [‖c−p‖², ‖c−z‖², ‖c−f‖², ⟨c,f⟩, ‖c‖²].

        ``parts`` are the same element range of one tensor in each checkpoint; returns, per checkpoint,
        whether the range differs bitwise from the previous checkpoint's. Each part is converted to float64
        once; a range equal to the previous one reuses its sums (no change since).
        """
        import torch

        size = parts[0].numel()
        last = len(parts) - 1
        z, f = self.first[:size], self.final[:size]
        z.copy_(parts[0])
        f.copy_(parts[last])
        d = self.diff[:size]
        torch.sub(z, f, out=d)
        current = [0.0, 0.0, _sq(d), _dot(z, f, d), _sq(z)]
        for j, value in enumerate(current):
            out[0][j] += value
        if last == 1:  # a pair: the later one is the final, and c − p = c − z = −(z − f) (same squares)
            same = _same_bits(parts[1], parts[0])
            later = current if same else [current[2], current[2], 0.0, _dot(f, f, d), _sq(f)]
            for j, value in enumerate(later):
                out[1][j] += value
            return [False, not same]
        moved = [False] * len(parts)
        prev, spare = z, self.a
        for i in range(1, last + 1):
            if _same_bits(parts[i], parts[i - 1]):
                current = [0.0, *current[1:]]
            else:
                moved[i] = True
                if i == last:
                    c = f
                else:
                    c, spare = spare[:size], (self.b if spare is self.a else self.a)
                    c.copy_(parts[i])
                torch.sub(c, prev, out=d)
                current = [_sq(d)]
                torch.sub(c, z, out=d)
                current.append(_sq(d))
                torch.sub(c, f, out=d)
                current += [_sq(d), _dot(c, f, d), _sq(c)]
                prev = c
            for j, value in enumerate(current):
                out[i][j] += value
        return moved


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

    if not sources:
        raise CheckpointError("no checkpoints to analyse", hint="Select at least one checkpoint.")
    start_time = time.perf_counter()
    meta = _check_metadata(sources)
    index = grouping.group_of()
    count = len(sources)
    totals = _Totals(len(grouping.groups), count)
    chunks = _Chunks()
    ungrouped = tuple(k for k in meta if k not in index)
    bytes_read = _measure_all(sources, meta, index, count, totals, chunks)
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
    """One key, chunk by chunk across every checkpoint: each part is read once and released at once."""
    import torch

    count = len(sources)
    tensors = [source.tensor(key) for source in sources]  # memory-mapped views: nothing read yet
    flat = [t.reshape(-1) for t in tensors]
    numel = flat[0].numel()
    step = CHUNK if is_float else max(numel, 1)
    sums = [[0.0] * len(_SUMS) for _ in range(count)]
    moved = [False] * count
    for start in range(0, max(numel, 1), step):
        parts = [f[start : start + step] for f in flat]
        if is_float:
            changed = chunks.sums(parts, sums)
        else:
            changed = [i > 0 and not _same_bits(parts[i], parts[i - 1]) for i in range(count)]
        moved = [m or c for m, c in zip(moved, changed, strict=True)]
        # Release everything read of this tensor so far, not only this part: a page fault maps the pages
        # around it too (fault-around over the readahead), some of them behind the part, already released.
        for source, whole in zip(sources, flat, strict=True):
            source.release(whole[: start + step])
    for i in range(count):
        if i and not moved[i]:
            totals.counts["same_tensors"][g, k, i] += 1
            totals.counts["same_bytes"][g, k, i] += nbytes
        if is_float:
            for name, value in zip(_SUMS, sums[i], strict=True):
                totals.sums[name][g, k, i] += value
            # a NaN or ±Inf anywhere makes ‖c‖² non-finite (float32 squares cannot overflow float64)
            if not math.isfinite(sums[i][-1]):
                totals.counts["nan"][g, k, i] += int(torch.isnan(tensors[i]).sum())
                totals.counts["inf"][g, k, i] += int(torch.isinf(tensors[i]).sum())
                sources[i].release(tensors[i])


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
