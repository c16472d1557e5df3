"""The plan of a publish: which revisions to make, which are already there, and why each epoch.

Planning reads the run and the remote repo (read-only calls only) and decides, per revision:

- ``publish``: the branch is missing; stage, verify, then create it;
- ``unchanged``: the branch holds exactly the expected files; nothing to do;
- ``update``: same weights, other files differ (card, hubkit.json, a missing verification): one commit;
- ``replace``: different weights; only with ``--force`` (else :class:`~hubkit.errors.RemoteConflictError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from hubkit.errors import InputError
from hubkit.layout import GITATTRIBUTES, HUBKIT_FILES, README
from hubkit.publish.files import LocalFile, RemoteFile, human_size
from hubkit.publish.options import MainMode

if TYPE_CHECKING:
    from hubkit.publish.content import Content
    from hubkit.publish.remote import Refs
    from hubkit.runs import SelectedCheckpoint, TrainingRun

Action = Literal["publish", "unchanged", "update", "replace"]
# Files that are the Hub's, not hubkit's: never compared, never deleted.
HUB_FILES = frozenset({GITATTRIBUTES})


def release_weights_files() -> frozenset[str]:
    """The weights file names of every known framework (``model.safetensors``, …)."""
    from hubkit import frameworks

    return frozenset(f.weights_file for f in frameworks.all_frameworks())


def main_managed() -> frozenset[str]:
    """Files hubkit may remove from ``main`` when no longer expected (it never removes others there):
    its own records, cards and curves, and every known framework's weights and config.

    Example:
        >>> "model.safetensors" in main_managed()
        True
    """
    from hubkit import frameworks

    configs = {f.config_file for f in frameworks.all_frameworks()}
    return frozenset(HUBKIT_FILES - {README} | release_weights_files() | configs)


@dataclass(frozen=True)
class RevisionPlan:
    """What a publish will do with one revision, and everything it learnt while deciding."""

    name: str  # "epoch-004"
    item: SelectedCheckpoint  # the checkpoint and why it was selected
    metrics: Mapping[str, float]  # results recorded for its epoch
    key: str  # input key of the plan record (see hubkit.publish.cache.input_key)
    action: Action = "publish"
    note: str = ""  # one line for --dry-run: "new branch", "identical files on the Hub"
    remote_commit: str | None = None  # where the branch points now; None when missing
    remote_files: Mapping[str, RemoteFile] | None = None  # files at remote_commit
    content: Content | None = None  # converted weights + config (hashes at least), when known
    verification: bytes | None = None  # the branch's verification.json, kept when the weights are the same
    files: tuple[LocalFile, ...] = ()  # the revision's files as far as known (sizes for --dry-run)
    verified: bool | None = None  # what the kept verification says
    known_objects: frozenset[str] = frozenset()  # sha256s the branch already holds (never uploaded again)

    @property
    def epoch(self) -> int:
        return self.item.epoch

    @property
    def commit(self) -> str | None:
        """The branch's commit when nothing is to be done with it (None otherwise)."""
        return self.remote_commit if self.action == "unchanged" else None


@dataclass(frozen=True)
class PublishPlan:
    """Everything a publish will do, decided from local facts and read-only remote calls."""

    repo_id: str  # "local/timm-digits"
    run: TrainingRun
    revisions: tuple[RevisionPlan, ...]  # ascending epoch
    main_epoch: int | None  # the epoch main will hold; None with --main none
    refs: Refs | None  # the repo's branches and tags when planned; None: the repo does not exist yet

    @property
    def todo(self) -> tuple[RevisionPlan, ...]:
        """The revisions with something to do, in order."""
        return tuple(r for r in self.revisions if r.action != "unchanged")

    @property
    def staged(self) -> tuple[RevisionPlan, ...]:
        """The revisions that get a new (staged, then verified) commit."""
        return tuple(r for r in self.revisions if r.action in ("publish", "replace"))


def select(
    run: TrainingRun, specs: tuple[str, ...], main: MainMode
) -> tuple[list[SelectedCheckpoint], int | None]:
    """Union of the ``--select`` specs, plus the checkpoint ``main`` will hold.

    Returns:
        The selected checkpoints (ascending epoch, reasons merged) and main's epoch (None with ``none``).

    Example:
        >>> items, main_epoch = select(run, ("last",), "best")  # doctest: +SKIP
    """
    from hubkit.runs import SelectedCheckpoint, select_checkpoints

    reasons: dict[int, list[str]] = {}
    for spec in specs or (None,):
        selection = select_checkpoints(run, spec)
        if selection.missing:
            missing = ", ".join(str(e) for e in selection.missing)
            raise InputError(
                f"--select {selection.spec!r} names epoch(s) {missing} that have no checkpoint in {run.path.name}",
                hint="list the run's checkpoints with `hubkit publish --dry-run` and pick existing epochs",
            )
        for chosen in selection.items:
            bucket = reasons.setdefault(chosen.epoch, [])
            bucket.extend(r for r in chosen.reasons if r not in bucket)
    main_epoch = _main_epoch(run, main)
    if main_epoch is not None and main_epoch not in reasons:
        reasons[main_epoch] = [f"held by main (--main {main})"]
    items = [
        SelectedCheckpoint(checkpoint=c, reasons=tuple(reasons[c.epoch]))
        for c in run.checkpoints
        if c.epoch in reasons
    ]
    if not items:
        raise InputError(
            f"no checkpoint of {run.path} was selected", hint="check --select (e.g. --select all)"
        )
    return items, main_epoch


def _main_epoch(run: TrainingRun, main: MainMode) -> int | None:
    if main == "none":
        return None
    if not run.checkpoints:
        raise InputError(f"{run.path} has no checkpoints", hint="point hubkit at a run dir with checkpoints")
    if main == "last":
        return run.checkpoints[-1].epoch
    best = run.best_epoch()
    if best is None or run.checkpoint(best) is None:
        raise InputError(
            f"--main best: the best epoch by {run.primary_metric} ({best}) has no checkpoint in {run.path.name}",
            hint="use --main last, or keep the best checkpoint (timm saves model_best.pth.tar)",
        )
    return best


def extra_remote(
    expected: tuple[LocalFile, ...], remote: Mapping[str, RemoteFile], managed: frozenset[str] | None
) -> list[str]:
    """Remote paths that should go: not expected, not the Hub's own, and (on main) managed by hubkit."""
    wanted = {f.path for f in expected}
    return sorted(
        path
        for path in remote
        if path not in wanted and path not in HUB_FILES and (managed is None or path in managed)
    )


def describe(state: RevisionPlan) -> str:
    """The one-line plan of a revision for ``--dry-run``.

    Example:
        >>> describe(state)  # doctest: +SKIP
        'epoch-004  epoch 4  publish   3 files, 1.2 MB  (best eval_top1 = 93.10)'
    """
    size = sum(f.size for f in state.files)
    why = "; ".join(state.item.reasons)
    note = f" — {state.note}" if state.note else ""
    return f"{state.name:<16} epoch {state.epoch:<4} {state.action:<9} {len(state.files)} files, {human_size(size)}{note}  ({why})"


def run_inputs(run: TrainingRun, template_dir: Path | None) -> dict[str, object]:
    """The identity of everything in the run dir and templates that shapes committed files."""
    from importlib.resources import files

    from hubkit.publish.cache import file_identity, tree_digest

    builtin = Path(str(files("hubkit.templates")))
    return {
        "args": file_identity(run.args_file),
        "metrics": file_identity(run.metrics_file),
        "model_config": file_identity(run.model_config_path),
        "templates": tree_digest(builtin),
        "user_templates": tree_digest(template_dir),
    }
