"""Load MMEngine training checkpoints (``epoch_N.pth``) with ``weights_only=True``, without mmengine.

MMEngine's ``CheckpointHook`` pickles the runner's ``message_hub``: ``HistoryBuffer`` objects holding numpy
arrays, and in each buffer ``statistics_methods = {'min': getattr(HistoryBuffer, 'min'), ...}``. torch ≥ 2.6
refuses those globals (mmengine #1655), and allowlisting the real ``builtins.getattr`` would let any pickle
call any attribute. So every name below maps to an **inert stand-in** registered under that name (torch's
``(obj, "dotted.name")`` safe-globals form): constructing a stand-in only stores data, and the ``getattr``
stand-in answers only ``min``/``max``/``current``/``mean`` of the ``HistoryBuffer`` stand-in, refusing anything
else before it is used. Neither mmengine nor any real callable is imported or called.

Example:
    >>> ckpt = load_mmengine_checkpoint("work_dirs/digits/epoch_5.pth")
    >>> sorted(ckpt)
    ['message_hub', 'meta', 'optimizer', 'param_schedulers', 'state_dict']
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hubkit.runs.safeload import _safe_load

HISTORY_BUFFER = "mmengine.logging.history_buffer.HistoryBuffer"
STATISTICS = frozenset({"min", "max", "current", "mean"})  # HistoryBuffer's default statistics methods


class HistoryBufferStandIn:
    """Stands in for ``mmengine.logging.history_buffer.HistoryBuffer``: keeps the pickled state as data.

    Example:
        >>> buf.fields["_log_history"].array[-1]     # the last logged value, a numpy scalar
    """

    fields: dict[str, Any]

    def __setstate__(self, state: Any) -> None:
        # Plain data only; nothing here calls into what the pickle supplied.
        self.fields = dict(state) if isinstance(state, dict) else {"state": state}


@dataclass(frozen=True)
class StatisticRef:
    """What ``getattr(HistoryBuffer, 'min')`` unpickles to: the statistic's name, nothing callable."""

    name: str  # "min" | "max" | "current" | "mean"


def _statistic(owner: Any, name: Any) -> StatisticRef:
    """Stand-in for ``builtins.getattr``: only ``getattr(HistoryBuffer, <statistic>)`` is answered."""
    if owner is HistoryBufferStandIn and isinstance(name, str) and name in STATISTICS:
        return StatisticRef(name)
    shown = (
        HISTORY_BUFFER if owner is HistoryBufferStandIn else getattr(owner, "__name__", type(owner).__name__)
    )
    raise pickle.UnpicklingError(
        f"Unsupported getattr({shown}, {name!r}): only getattr(HistoryBuffer, 'min'|'max'|'current'|'mean') "
        "is allowed"
    )


class ArrayStandIn:
    """Stands in for ``numpy.ndarray`` while unpickling; ``array`` is rebuilt from the raw bytes only.

    Example:
        >>> buf.fields["_log_history"].array.dtype
        dtype('float64')
    """

    array: Any  # numpy.ndarray, built by numpy.frombuffer (no object reconstruction runs)

    def __setstate__(self, state: Any) -> None:
        import numpy as np

        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise pickle.UnpicklingError("Unsupported numpy array state in the pickle")
        _version, shape, dtype, fortran, raw = state if len(state) == 5 else (1, *state)
        if not isinstance(dtype, np.dtype):
            raise pickle.UnpicklingError("Unsupported numpy array state: its dtype is not a numpy dtype")
        if dtype.hasobject:
            # Object arrays pickle their items (already unpickled under the same allowlist) as a list.
            flat = np.empty(len(raw), dtype=object)
            flat[:] = list(raw)
        else:
            flat = np.frombuffer(bytes(raw), dtype=dtype).copy()
        self.array = flat.reshape(tuple(shape), order="F" if fortran else "C")


def _reconstruct(cls: Any, shape: Any, typecode: Any) -> ArrayStandIn:
    """Stand-in for ``numpy.core.multiarray._reconstruct``: an empty :class:`ArrayStandIn` to fill."""
    if cls is not ArrayStandIn:
        raise pickle.UnpicklingError(f"Unsupported numpy _reconstruct of {cls!r}")
    return ArrayStandIn()


def _scalar(dtype: Any, raw: Any = None) -> Any:
    """Stand-in for ``numpy.core.multiarray.scalar``: the value read from its bytes with frombuffer."""
    import numpy as np

    if not isinstance(dtype, np.dtype):
        raise pickle.UnpicklingError("Unsupported numpy scalar: its dtype is not a numpy dtype")
    if dtype.hasobject:
        return raw  # an object scalar pickles the (already unpickled, allowlisted) object itself
    return np.frombuffer(bytes(raw), dtype=dtype)[0]


# (stand-in, dotted name as the pickle writes it, why). numpy < 2 writers use ``numpy.core.*``, numpy ≥ 2
# ``numpy._core.*``; protocol-2 pickles (torch.save's default) spell builtins ``__builtin__``.
STAND_INS: tuple[tuple[Any, str, str], ...] = (
    (HistoryBufferStandIn, HISTORY_BUFFER, "MMEngine message_hub log buffers"),
    (_statistic, "__builtin__.getattr", "HistoryBuffer.statistics_methods (protocol 2)"),
    (_statistic, "builtins.getattr", "HistoryBuffer.statistics_methods (protocol 3+)"),
    (ArrayStandIn, "numpy.ndarray", "arrays inside HistoryBuffer"),
    (_reconstruct, "numpy._core.multiarray._reconstruct", "array construction, numpy >= 2"),
    (_reconstruct, "numpy.core.multiarray._reconstruct", "array construction, numpy < 2"),
    # numpy >= 2 scalars are already on hubkit's list (hubkit.runs.safeload.ALLOWED_GLOBALS); numpy < 2
    # writers name the same function numpy.core.multiarray.scalar, which that list cannot register.
    (_scalar, "numpy.core.multiarray.scalar", "numpy scalars, numpy < 2"),
)


def stand_ins() -> tuple[tuple[Any, str], ...]:
    """``(stand-in, dotted name)`` pairs in torch's safe-globals form (``Framework.pickle_stand_ins``).

    Example:
        >>> (HistoryBufferStandIn, HISTORY_BUFFER) in stand_ins()
        True
    """
    return tuple((obj, name) for obj, name, _ in STAND_INS)


def load_mmengine_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load an MMEngine checkpoint (``epoch_N.pth``, ``best_*.pth``) safely, without importing mmengine.

    Args:
        path: the checkpoint file.

    Returns:
        The checkpoint dict (``meta``, ``state_dict``, ``message_hub`` with stand-ins, ``optimizer`` …).

    Raises:
        UnsafeCheckpointError: the pickle asks for anything outside the allowlist (a reduce to ``os.system``,
            a ``getattr`` other than the HistoryBuffer statistics …); nothing of it was run.
        CheckpointError: the file is missing, empty, truncated, corrupt or not a dict.

    Example:
        >>> load_mmengine_checkpoint("work_dirs/digits/epoch_5.pth")["meta"]["epoch"]
        5
    """
    # The stand-ins reach every safe load through the MMPreTrain framework's pickle_stand_ins.
    return _safe_load(Path(path))
