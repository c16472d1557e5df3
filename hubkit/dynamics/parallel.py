"""A share of the measuring in a forked worker process, so that two shares use two cores.

Threads measuring two shares spend much of their time handing the GIL to each other: every chunk makes
some thirty calls that release and take it back (reads, copies, ``pdist``), and on the 2-core VM of the
benchmark two threads used 22 % more CPU than one for the same work, against 3-8 % for two processes.
A whole analysis (``hubkit dynamics``) therefore forks one worker after every checkpoint is loaded: the
worker inherits the loaded checkpoints (their tensors' file offsets, the open files), measures its share
into its own totals and sends back only those arrays (``numpy.savez``, read with ``allow_pickle=False``).
PyTorch's ``DataLoader`` forks its workers the same way; like them the worker sets one torch thread.

Forking is only done where it is safe and cheap: on Linux, when this process runs no other Python thread
(a thread holding a lock at the fork would leave it held in the worker forever). Otherwise the caller
measures the share in a thread.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from hubkit.errors import CheckpointError

if TYPE_CHECKING:
    import numpy as np

_DONE, _FAILED = b"A", b"E"  # the first byte of the worker's answer


def can_fork() -> bool:
    """Whether a worker may be forked here: Linux, and no other Python thread alive."""
    return sys.platform.startswith("linux") and hasattr(os, "fork") and threading.active_count() == 1


class ForkedShare:
    """``work`` run in a forked child; :meth:`result` gives the arrays it returned.

    Example:
        >>> share = ForkedShare(lambda: [numpy.ones(3)])
        >>> share.result()[0].tolist()
        [1.0, 1.0, 1.0]
    """

    def __init__(self, work: Callable[[], list[np.ndarray]]) -> None:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker: never returns
            os.close(read)
            _serve(work, write)
        os.close(write)
        self._pid: int | None = pid
        self._read: int | None = read

    def result(self) -> list[np.ndarray]:
        """Wait for the worker and return its arrays.

        Raises:
            CheckpointError: the worker failed (its error's text is in the message) or died.
        """
        import numpy as np

        assert self._read is not None, "result() is called once"
        read, self._read = self._read, None
        with os.fdopen(read, "rb") as answer:
            data = answer.read()
        status = self._reap()
        if data[:1] == _DONE and status == 0:
            with np.load(io.BytesIO(data[1:]), allow_pickle=False) as arrays:
                return [arrays[f"arr_{n}"] for n in range(len(arrays.files))]
        if data[:1] == _FAILED:
            raise CheckpointError(
                data[1:].decode("utf-8", "replace"),
                hint="The measuring worker stopped; run the analysis again once that is fixed.",
            )
        raise CheckpointError(
            f"the measuring worker process ended without an answer (exit status {status})",
            hint="Check memory limits and run the analysis again.",
        )

    def cancel(self) -> None:
        """Stop the worker, if it still runs (the caller failed or was interrupted)."""
        if self._pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            self._reap()
        if self._read is not None:
            os.close(self._read)
            self._read = None

    def _reap(self) -> int:
        if self._pid is None:
            return 0
        _, status = os.waitpid(self._pid, 0)
        self._pid = None
        return os.waitstatus_to_exitcode(status)


def _serve(work: Callable[[], list[np.ndarray]], write: int) -> None:
    """The worker's life: measure, write the answer, exit without running the parent's cleanups."""
    code = 1
    try:
        import numpy as np
        import torch

        torch.set_num_threads(1)  # as DataLoader workers: no OpenMP pool inherited from the parent
        buffer = io.BytesIO()
        np.savez(buffer, *work())  # arr_0, arr_1, …
        answer, code = _DONE + buffer.getvalue(), 0
    except BaseException as exc:
        answer = _FAILED + str(exc).encode("utf-8", "replace")[:4000]
    try:
        with os.fdopen(write, "wb") as out:
            out.write(answer)
    finally:
        os._exit(code)
