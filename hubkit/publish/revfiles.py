"""The files a publish writes next to the converted weights: cards and ``hubkit.json``, per revision.

Every card of one publish is rendered from one base context (run facts, model statistics), built on first
use. A dry run builds it without writing any cache (:func:`hubkit.paths.no_cache_writes`).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

from hubkit import paths
from hubkit.layout import README, VERIFICATION_JSON
from hubkit.publish import card as cards
from hubkit.publish import dynamics
from hubkit.publish.content import Content, metadata_file
from hubkit.publish.files import LocalFile
from hubkit.runs.safeload import Preloads

if TYPE_CHECKING:
    from hubkit.cards.context import CardContext, DynamicsFacts
    from hubkit.dynamics.model import DynamicsReport
    from hubkit.layout import DynamicsRecord
    from hubkit.runs import SelectedCheckpoint, TrainingRun

# (revision, commit, epoch, metrics, note): one row of main's revisions table
MainRow = tuple[str, str, int, Mapping[str, float], str]


class ReleaseFiles:
    """Builds the card and record files of the revisions of one run published to one repo."""

    def __init__(
        self,
        run: TrainingRun,
        repo_id: str,
        *,
        template_dir: Path | None,
        license: str | None,
        has_main: bool,
        dry_run: bool,
        revisions: Sequence[tuple[str, int]] = (),
        weights: str | None = None,
        reference: str | None = None,
    ) -> None:
        self.run = run
        self.repo_id = repo_id
        self.template_dir = template_dir
        self.license = license
        self.reference = reference
        self.has_main = has_main
        self.dry_run = dry_run
        self.revisions = tuple(revisions)  # (("epoch-000", 0), ...): every revision of this publish
        self.weights = weights
        # checkpoints safe-loaded once for the preflight (its conversions) and the dynamics analysis
        self.preloads = Preloads()
        self._dynamics_lock = threading.Lock()
        self._dynamics_started = False
        self.dynamics_imported = threading.Event()  # set once the analysis imports nothing more
        # one future per revision after the first (its pair with the revision before it), one for the whole
        self._pairs: dict[str, Future[DynamicsReport | None]] = {
            name: Future() for name, _ in self.revisions[1:]
        }
        self._report: Future[DynamicsReport | None] = Future()

    def dynamics(self) -> DynamicsReport | None:
        """How the weights moved between the revisions: analysed once, by the first thread that asks.

        None with fewer than two revisions. The executor asks for it in the background as soon as it
        starts; while it runs, each revision's pair is published as soon as it is measured
        (:meth:`revision_figures`), so a revision's ``hubkit.json`` waits for its own pair only.
        """
        with self._dynamics_lock:
            start, self._dynamics_started = not self._dynamics_started, True
        if start:
            try:
                report = dynamics.analyse_published(
                    self.run,
                    self.revisions,
                    self.weights,
                    imported=self.dynamics_imported,
                    on_pair=self._pair,
                    load=self.preloads.checkpoint,
                )
            except BaseException as exc:
                for future in (*self._pairs.values(), self._report):
                    if not future.done():
                        future.set_exception(exc)
                raise
            finally:
                self.preloads.close()  # what the analysis did not take: the conversions hold their own
            for future in self._pairs.values():
                if not future.done():  # a revision whose pair was not measured (one epoch published twice)
                    future.set_result(None)
            self._report.set_result(report)
        return self._report.result()

    def _pair(self, name: str, report: DynamicsReport) -> None:
        future = self._pairs.get(name)
        if future is not None and not future.done():
            future.set_result(report)

    def revision_figures(self, name: str) -> DynamicsRecord | None:
        """``hubkit.json``'s figures of revision ``name``: its change from the revision before it.

        Waits for that pair only; runs the analysis here when no thread has started it. None for the first
        revision (nothing before it) and for a revision this publish does not hold.
        """
        future = self._pairs.get(name)
        if future is None:
            return None
        if not self._dynamics_started:
            self.dynamics()
        return dynamics.revision_record(future.result(), name)

    @functools.cached_property
    def base(self) -> CardContext:
        """The card context shared by every card of this publish (computed once)."""
        if self.dry_run:  # the model statistics cache is read, not written
            with paths.no_cache_writes():
                return self._base()
        return self._base()

    def _base(self) -> CardContext:
        return cards.base_context(
            self.run, self.repo_id, self.template_dir, license=self.license, reference=self.reference
        )

    def readme(
        self,
        name: str,
        item: SelectedCheckpoint,
        metrics: Mapping[str, float],
        weights: str,
        verification: bytes | None,
    ) -> LocalFile:
        """The card of revision ``name`` (with its verification, once there is one)."""
        data = cards.checkpoint_card(
            self.base,
            self.run,
            item,
            revision=name,
            weights=weights,
            metrics=dict(metrics),
            verification=verification,
            main_revision="main" if self.has_main else None,
            template_dir=self.template_dir,
        )
        return LocalFile.from_bytes(README, data)

    def expected(
        self,
        name: str,
        item: SelectedCheckpoint,
        metrics: Mapping[str, float],
        content: Content,
        verification: bytes | None,
    ) -> tuple[LocalFile, ...]:
        """Revision ``name``'s final files: weights, config, hubkit.json, verification.json, card."""
        # the first revision has nothing before it: its files never wait for the analysis
        figures = self.revision_figures(name)
        files = [*content.files, metadata_file(self.run, item, content, name, dynamics=figures)]
        if verification is not None:
            files.append(LocalFile.from_bytes(VERIFICATION_JSON, verification))
        files.append(self.readme(name, item, metrics, content.record.weights, verification))
        return tuple(files)

    def main_readme(
        self,
        item: SelectedCheckpoint,
        metrics: Mapping[str, float],
        rows: list[MainRow],
        *,
        curve_image: str | None = None,
        verification: bytes | None = None,
        weights: str | None = None,
        dynamics: DynamicsFacts | None = None,
    ) -> bytes:
        """Main's card for ``item`` with the revisions table ``rows``."""
        return cards.main_card(
            self.base,
            self.run,
            item,
            metrics=dict(metrics),
            rows=rows,
            curve_image=curve_image,
            verification=verification,
            template_dir=self.template_dir,
            weights=weights,
            dynamics=dynamics,
        )
