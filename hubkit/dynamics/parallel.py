"""Half of a whole analysis in a forked worker process, so that both halves use a core each.

Threads measuring two shares spend much of their time handing the GIL to each other: every chunk makes
some thirty calls that release it and take it back (reads, copies, ``pdist``), and on the benchmark's
2-core VM two threads used about a fifth more CPU than one thread for the same work, where two processes
used a few per cent more. Locating the tensors of the checkpoints (an unpickling each, holding the GIL)
does not run in two threads at all. So a whole analysis (``hubkit dynamics``) forks one worker, and the
two processes split both jobs:

1. each locates the tensors of half of the checkpoints and sends the other its
   :data:`~hubkit.dynamics.weights.Layout` (where each tensor lies in its file: JSON), so that neither
   unpickles a checkpoint twice;
2. each measures its share of the tensors, reading them with ``pread``; the worker sends back its totals
   (``numpy.savez``, read with ``allow_pickle=False``) and exits.

PyTorch's ``DataLoader`` forks its workers the same way; like them, the worker uses one torch thread.
Forking is only done where it is safe: on Linux, when this process runs no other Python thread (a thread
holding a lock at the fork would leave it held in the worker forever). Elsewhere the caller uses a thread.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import struct
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from hubkit.errors import CheckpointError

if TYPE_CHECKING:
    import numpy as np

_DONE, _FAILED = b"A", b"E"  # a message's first byte; then its length (8 bytes, little-endian), its body
_HINT = "The measuring worker process stopped; run the analysis again once that is fixed."


def can_fork() -> bool:
    """Whether a worker may be forked here: Linux, and no other Python thread alive."""
    return sys.platform.startswith("linux") and hasattr(os, "fork") and threading.active_count() == 1


class ForkedShare:
    """A forked worker: ``prepare()`` runs at once, its bytes are swapped for the caller's
    (:meth:`swap`), then ``work(callers_bytes)`` runs and :meth:`result` gives the arrays it returned.

    Example:
        >>> share = ForkedShare(lambda: b"mine", lambda theirs: [numpy.frombuffer(theirs, "u1")])
        >>> share.swap(b"ab")
        b'mine'
        >>> share.result()[0].tolist()
        [97, 98]
    """

    def __init__(self, prepare: Callable[[], bytes], work: Callable[[bytes], list[np.ndarray]]) -> None:
        up_read, up_write = os.pipe()  # worker -> caller
        down_read, down_write = os.pipe()  # caller -> worker
        try:
            pid = os.fork()
        except OSError:  # no process to be had: nothing left open
            for fd in (up_read, up_write, down_read, down_write):
                os.close(fd)
            raise
        if pid == 0:  # the worker: never returns
            os.close(up_read)
            os.close(down_write)
            _serve(prepare, work, up_write, down_read)
        os.close(up_write)
        os.close(down_read)
        self._pid: int | None = pid
        self._up: int | None = up_read
        self._down: int | None = down_write

    def swap(self, mine: bytes) -> bytes:
        """Wait for what the worker prepared, hand it ``mine``, and return the worker's bytes.

        Raises:
            CheckpointError: the worker failed (its error's text is in the message) or died.
        """
        theirs = self._receive()
        assert self._down is not None, "swap() is called once"
        down, self._down = self._down, None
        try:
            with contextlib.suppress(BrokenPipeError):  # a worker gone is told by result()
                _send(down, _DONE, mine)
        finally:
            os.close(down)
        return theirs

    def result(self) -> list[np.ndarray]:
        """Wait for the worker's arrays (after :meth:`swap`).

        Raises:
            CheckpointError: the worker failed or died.
        """
        import numpy as np

        data = self._receive()
        self._reap()
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            return [arrays[f"arr_{n}"] for n in range(len(arrays.files))]

    def cancel(self) -> None:
        """Stop the worker if it still runs, and close the pipes (the caller failed, or is done)."""
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            self._reap()
        for name in ("_up", "_down"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)

    def _receive(self) -> bytes:
        assert self._up is not None, "the worker's answers are read in order, once"
        tag, body = _read_message(self._up)
        if tag == _DONE:
            return body
        if tag == _FAILED:
            error = json.loads(body)
            self._reap()
            raise CheckpointError(error["message"], hint=error.get("hint") or _HINT)
        status = self._reap()
        raise CheckpointError(
            f"the measuring worker process ended without an answer (exit status {status})",
            hint="Check the machine's memory limits and run the analysis again.",
        )

    def _reap(self) -> int:
        if self._pid is None:
            return 0
        _, status = os.waitpid(self._pid, 0)
        self._pid = None
        return os.waitstatus_to_exitcode(status)


def _read_exactly(fd: int, size: int) -> bytes:
    parts, got = [], 0
    while got < size:
        part = os.read(fd, min(size - got, 1 << 20))
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _read_message(fd: int) -> tuple[bytes, bytes]:
    """The next message's tag and body; an empty tag when the other side ended before a whole one."""
    head = _read_exactly(fd, 9)
    if len(head) == 9:
        (length,) = struct.unpack("<Q", head[1:])
        body = _read_exactly(fd, length)
        if len(body) == length:
            return head[:1], body
    return b"", b""


def _send(fd: int, tag: bytes, body: bytes) -> None:
    view = memoryview(tag + struct.pack("<Q", len(body)) + body)
    while view:
        view = view[os.write(fd, view) :]


def _serve(
    prepare: Callable[[], bytes], work: Callable[[bytes], list[np.ndarray]], up: int, down: int
) -> None:
    """The worker's life: prepare, swap, measure, answer, and exit without the caller's cleanups."""
    code = 1
    try:
        import numpy as np
        import torch

        torch.set_num_threads(1)  # as DataLoader workers: no OpenMP pool inherited from the caller
        _send(up, _DONE, prepare())
        tag, theirs = _read_message(down)
        if tag != _DONE:
            raise CheckpointError("the analysis stopped before the worker got its half")
        buffer = io.BytesIO()
        np.savez(buffer, *work(theirs))  # arr_0, arr_1, …
        _send(up, _DONE, buffer.getvalue())
        code = 0
    except BaseException as exc:
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        error = {"message": message, "hint": getattr(exc, "hint", None)}
        with contextlib.suppress(OSError):
            _send(up, _FAILED, json.dumps(error).encode())
    finally:
        os._exit(code)
