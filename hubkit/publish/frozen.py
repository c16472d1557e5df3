"""The frozen-group gate of ``hubkit publish``: the run's lock settings against how the published weights moved.

Runs before the first remote call. A run that locks nothing costs nothing (its lock plan is read from the
meta-device model, no checkpoint is read); otherwise the selected checkpoints are analysed
(``hubkit.dynamics``) and every group the settings freeze but whose weights or BatchNorm statistics moved
is a warning (``--frozen-check warn``, the default) or stops the release (``strict``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from hubkit.errors import VerificationError

if TYPE_CHECKING:
    from hubkit.runs.model import TrainingRun

WARNING_PREFIX = "frozen groups: "


def frozen_warnings(
    run: TrainingRun, epochs: Sequence[int], mode: str, weights: str | None
) -> tuple[str, ...]:
    """Mismatches between the run's lock settings and its selected checkpoints, as warning lines.

    Args:
        run: the run being published.
        epochs: the selected epochs (their checkpoints are compared in order).
        mode: ``"warn"``, ``"strict"`` or ``"off"``.
        weights: the weights being published (``None``: the run's default).

    Raises:
        VerificationError: ``strict`` and a mismatch was found (nothing was published).

    Example:
        >>> frozen_warnings(run, [0, 3, 7], "warn", None)
        ("frozen groups: group 'layer1' is frozen by --lock (args.yaml), but its BatchNorm ...",)
    """
    from hubkit import frameworks
    from hubkit.dynamics.analyse import analyse_run

    if mode == "off" or len(epochs) < 2 or not frameworks.get(run.framework).lock_settings(run.hyperparams):
        return ()  # nothing claimed frozen: nothing to contradict, and nothing is read
    spec = "epochs:" + ",".join(str(e) for e in sorted(set(epochs)))
    report = analyse_run(run, select=spec, weights=weights)
    failed = [f for f in report.findings if f.failed]
    if failed and mode == "strict":
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        raise VerificationError(
            f"frozen-group check failed: {failed[0].message}{more}",
            hint="fix the run (or its recorded lock settings), or publish with --frozen-check warn",
        )
    return tuple(WARNING_PREFIX + f.message for f in failed)
