"""The converted files of one checkpoint, from a fresh conversion or (hashes only) from the local record.

Conversion is the slow part of publishing (it reads the whole checkpoint), so it runs in a background
thread one revision ahead of the uploads (:class:`Converter`), and a re-run first looks in the record of
past conversions (:mod:`hubkit.publish.cache`) to decide whether anything needs converting at all.
"""

from __future__ import annotations

import shutil
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hubkit import frameworks
from hubkit.cards.runfacts import local_value
from hubkit.hashing import git_blob_sha1
from hubkit.layout import HUBKIT_JSON, DynamicsRecord
from hubkit.publish import cache
from hubkit.publish.files import LocalFile
from hubkit.publish.metadata import RevisionFacts, hubkit_json, split_metrics

if TYPE_CHECKING:
    from hubkit.runs import SelectedCheckpoint, TrainingRun
    from hubkit.runs.safeload import Preloaded, SourceHash


@dataclass(frozen=True)
class Content:
    """Weights + config of one checkpoint (with bytes on disk when freshly converted)."""

    record: cache.ConvertedRecord  # sizes and sha256s of what the conversion writes
    files: tuple[LocalFile, ...]  # weights first, then config; ``local_path`` None when from the record only
    out_dir: Path | None  # folder holding the converted files; None when from the record only

    @property
    def weights_file(self) -> LocalFile:
        return next(f for f in self.files if f.path == self.record.weights_file)

    @property
    def converted(self) -> bool:
        return self.out_dir is not None


def _key(run: TrainingRun, item: SelectedCheckpoint, weights: str | None) -> str | None:
    extra = {"model_config": run.model_config} if run.model_config else None
    return cache.conversion_key(item.checkpoint.path, weights, extra)


def from_record(run: TrainingRun, item: SelectedCheckpoint, weights: str | None) -> Content | None:
    """The content known from a past conversion of the same file, without reading it (None if unknown)."""
    record = cache.load(_key(run, item, weights))
    if record is None:
        return None
    return Content(record=record, files=tuple(LocalFile.from_record(f) for f in record.files), out_dir=None)


def convert(
    run: TrainingRun,
    item: SelectedCheckpoint,
    weights: str | None,
    out_dir: Path,
    *,
    remember: bool,
    source_hash: Future[SourceHash] | None = None,
    preloaded: Preloaded | None = None,
) -> Content:
    """Convert ``item`` into ``out_dir`` (hashing while writing) and, with ``remember``, record the result.

    ``source_hash``: the checkpoint's hash computed ahead (:meth:`Converter.prefetch`); waited for here.
    ``preloaded``: the checkpoint as the publish preflight safe-loaded it (:meth:`Converter.keep`).

    Example:
        >>> convert(run, item, "ema", Path("/tmp/x"), remember=False).record.weights  # doctest: +SKIP
        'ema'
    """
    from hubkit.runs import convert_checkpoint

    known = source_hash.result() if source_hash is not None else None
    done = convert_checkpoint(
        run,
        item.checkpoint,
        out_dir,
        weights=weights,  # type: ignore[arg-type]
        source_hash=known,
        preloaded=preloaded,
    )
    order = {done.weights_file: 0, done.config_file: 1}
    written = sorted(done.files, key=lambda f: (order.get(f.path.name, 2), f.path.name))
    files = tuple(
        LocalFile(
            f.path.name,
            f.size,
            f.sha256,
            local_path=f.path,
            # small files are stored as regular git blobs by the Hub: their blob id is what it reports
            blob_id=None if f.path.name == done.weights_file else git_blob_sha1(f.path.read_bytes()),
        )
        for f in written
    )
    record = cache.ConvertedRecord(
        files=tuple(f.to_record() for f in files),
        source_sha256=done.source_sha256,
        source_size=item.checkpoint.path.stat().st_size,
        weights=done.weights,
        num_parameters=done.num_parameters,
        weights_file=done.weights_file,
        config_file=done.config_file,
    )
    if remember:
        cache.store(_key(run, item, weights), record)
    return Content(record=record, files=files, out_dir=out_dir)


def metadata_file(
    run: TrainingRun,
    item: SelectedCheckpoint,
    content: Content,
    revision: str,
    *,
    dynamics: DynamicsRecord | None = None,
) -> LocalFile:
    """``hubkit.json`` of ``revision`` holding ``item``'s converted weights (and how they moved since the
    previous revision, ``dynamics``)."""
    values = item.checkpoint.metrics.values if item.checkpoint.metrics else {}
    metrics, lr, step = split_metrics(values)
    record = content.record
    facts = RevisionFacts(
        revision=revision,
        run_name=run.name,
        framework=run.framework,
        architecture=run.architecture,
        epoch=item.epoch,
        epochs=run.hyperparams.epochs,
        epoch_base=frameworks.get(run.framework).epoch_base,
        metrics=metrics,
        lr=lr,
        step=step,
        weights=record.weights,
        source_file=item.checkpoint.path.name,
        source_sha256=record.source_sha256,
        source_size=record.source_size,
        files={path: (size, sha) for path, size, sha, _ in record.files},
        # Machine-local paths (data_dir, output) become run-relative: hubkit.json is uploaded and must be
        # the same whichever machine publishes the run.
        hyperparameters={k: local_value(v, run.path) for k, v in run.hyperparams.raw.items()},
        primary_metric=run.primary_metric,
        num_parameters=record.num_parameters,
        dynamics=dynamics,
    )
    return LocalFile.from_bytes(HUBKIT_JSON, hubkit_json(facts))


class Converter:
    """Converts checkpoints in one background thread, so conversion overlaps the previous upload.

    :meth:`prefetch` hashes the source checkpoints in a second thread, ahead of their conversion: hashing
    reads each whole file without holding the GIL, so it runs beside the imports, card rendering and
    uploads of the main thread instead of delaying each conversion.

    Args:
        run: the run.
        weights: ``"ema"``, ``"raw"`` or None (the run's default).
        work_dir: a scratch folder; each revision converts into its own sub-folder.
        remember: record conversions in the local cache (False for dry runs: they write nothing).

    Example:
        >>> with Converter(run, "ema", Path(tmp), remember=True) as conv:  # doctest: +SKIP
        ...     conv.submit("epoch-004", item); content = conv.result("epoch-004")
    """

    def __init__(self, run: TrainingRun, weights: str | None, work_dir: Path, *, remember: bool) -> None:
        self.run = run
        self.weights = weights
        self.work_dir = work_dir
        self.remember = remember
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hubkit-convert")
        self._warm: Future[None] | None = None
        self._hash_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hubkit-hash")
        self._futures: dict[str, Future[Content]] = {}
        self._hashes: dict[Path, Future[SourceHash]] = {}
        self._preloaded: dict[Path, Preloaded] = {}
        self._lock = threading.Lock()

    # Checkpoints kept loaded for their conversion. Each is memory-mapped (its tensors cost no memory until
    # conversion reads the published state dict), so the bound is on open mappings, not on bytes.
    MAX_KEPT = 32

    def keep(self, loaded: Preloaded) -> None:
        """Hold a checkpoint the caller safe-loaded, so that its conversion does not unpickle it again."""
        with self._lock:
            if len(self._preloaded) < self.MAX_KEPT:
                self._preloaded[loaded.path] = loaded

    def warm_up(self) -> None:
        """Import the model library and build the run's meta model now, in the conversion thread.

        The first conversion would otherwise wait for its checkpoint's hash before starting on that
        (seconds: torch, timm); queued first, it runs while the checkpoints are hashed and checked.
        """
        from hubkit.runs.convert import prepare

        self._warm = self._pool.submit(prepare, self.run)

    def library_imported(self) -> None:
        """Wait for :meth:`warm_up` (no-op without one): the model library is imported once this returns.

        Other threads import it only after this: two threads importing one package at once can see it
        half-initialised ("cannot import name ... from partially initialized module 'timm.data'").
        """
        if self._warm is not None:
            wait([self._warm])

    def prefetch(self, items: list[SelectedCheckpoint]) -> None:
        """Start hashing the checkpoints of ``items`` (in this order) for the conversions to come."""
        from hubkit.runs.safeload import hash_checkpoint

        with self._lock:
            for item in items:
                path = item.checkpoint.path
                if path not in self._hashes:
                    self._hashes[path] = self._hash_pool.submit(hash_checkpoint, path)

    def submit(self, revision: str, item: SelectedCheckpoint) -> None:
        """Start converting ``item`` for ``revision`` (no-op when already submitted)."""
        with self._lock:
            if revision not in self._futures:
                out = self.work_dir / revision.replace("/", "__")
                self._futures[revision] = self._pool.submit(
                    convert,
                    self.run,
                    item,
                    self.weights,
                    out,
                    remember=self.remember,
                    source_hash=self._hashes.get(item.checkpoint.path),
                    preloaded=self._preloaded.pop(item.checkpoint.path, None),
                )

    def result(self, revision: str, item: SelectedCheckpoint) -> Content:
        """The converted content of ``revision``, waiting for (or starting) its conversion."""
        self.submit(revision, item)
        return self._futures[revision].result()

    def discard(self, revision: str, keep: set[Path] | None = None) -> None:
        """Delete the converted files of ``revision`` (unless their folder is in ``keep``)."""
        future = self._futures.get(revision)
        if future is None or not future.done() or future.exception() is not None:
            return
        out = future.result().out_dir
        if out is not None and (keep is None or out not in keep):
            shutil.rmtree(out, ignore_errors=True)

    def __enter__(self) -> Converter:
        return self

    def __exit__(self, *exc: object) -> None:
        for future in self._futures.values():
            future.cancel()
        for hashing in self._hashes.values():
            hashing.cancel()
        self._preloaded.clear()
        self._pool.shutdown(wait=True)
        self._hash_pool.shutdown(wait=True)
