"""Receiving one xorb upload: written and verified while it arrives, beside the event loop.

The event loop only collects the body's pieces; every 4 MiB they go to a worker thread that feeds a
:class:`~hubkit.hub.xet.xorb.XorbScanner` (chunks checked, decompressed and hashed) and appends them to
the temp file, while the loop keeps receiving. The batches are handled in order, one at a time, so at
most two batches (8 MiB) of an upload are in memory. When the body ends only the last batch is left:
the CAS answers a few milliseconds after the last byte, instead of reading a 64 MiB xorb back to
verify it. hf_xet holds each xorb in memory until that answer, and raises its number of parallel
uploads while the answers come back quickly; a fast answer is what keeps the client's memory low.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from hubkit.hub.xet.xorb import XetFormatError, XorbIndex, XorbScanner

BATCH_BYTES = 4 << 20


class XorbIntake:
    """The temp file and running verification of one xorb upload.

    Example:
        >>> intake = XorbIntake(tmp)
        >>> async for piece in request.stream(): await intake.add(piece)
        >>> index = await intake.finish()  # XetFormatError when malformed; always ``await intake.close()``
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "wb")  # noqa: SIM115 - closed by finish() / close()
        self._scanner = XorbScanner()
        self._batch: list[bytes] = []
        self._batched = 0
        self._running: asyncio.Future[None] | None = None
        self.refused: XetFormatError | None = None  # the first format error; later pieces are dropped

    def _consume(self, pieces: list[bytes]) -> None:
        if self.refused is not None:
            return
        try:
            for piece in pieces:
                self._scanner.feed(piece)
                self._file.write(piece)
        except XetFormatError as err:
            self.refused = err

    async def _flush(self) -> None:
        if self._running is not None:
            running, self._running = self._running, None
            await running  # the batch before: kept in order, and at most two batches held
        if self._batch:
            batch, self._batch, self._batched = self._batch, [], 0
            self._running = asyncio.ensure_future(run_in_threadpool(self._consume, batch))

    async def add(self, piece: bytes) -> None:
        """Take the next piece of the body (dropped once the upload is known to be malformed)."""
        if self.refused is not None:
            return
        self._batch.append(piece)
        self._batched += len(piece)
        if self._batched >= BATCH_BYTES:
            await self._flush()

    async def finish(self) -> XorbIndex:
        """The verified index once every piece is handled; XetFormatError when the xorb is malformed."""
        await self._flush()
        await self._flush()
        self._file.close()
        if self.refused is not None:
            raise self.refused
        return self._scanner.finish()

    async def close(self) -> None:
        """Wait for the worker and close the file (after :meth:`finish`, or instead of it on errors)."""
        if self._running is not None:
            running, self._running = self._running, None
            with contextlib.suppress(Exception):
                await running
        self._file.close()
