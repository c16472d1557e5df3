"""The seam between publishing and :mod:`hubkit.verify`: verify a staged commit, return ``verification.json``.

The committed ``verification.json`` is the verifier's record minus its wall-clock ``timings`` (committed
files must be byte-identical on re-runs), labelled with the branch the commit is about to become.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hubkit.errors import RecordError
from hubkit.layout import VerificationRecord

if TYPE_CHECKING:
    from hubkit.runs import TrainingRun


@dataclass(frozen=True)
class Verified:
    """The outcome of verifying one staged commit."""

    passed: bool  # True when every check passed
    data: bytes  # the verification.json bytes to commit (deterministic: no timings)
    failures: tuple[str, ...]  # ("top1 97.2 differs from summary.csv eval_top1 99.0 by 1.8 > 0.5",)


def verify_commit(
    *,
    repo_id: str,
    commit: str,
    revision: str,
    endpoint: str,
    token: str | None,
    run: TrainingRun,
    eval_data: Path | None,
    device: str | None,
) -> Verified:
    """Download ``commit`` into a fresh cache, reload it, check integrity and quick-evaluate it.

    Args:
        commit: the staged commit (40 hex digits).
        revision: the branch the commit will become ("epoch-004"), recorded in verification.json.

    Example:
        >>> verify_commit(repo_id="o/n", commit=sha, revision="epoch-004", endpoint=url, token=None,
        ...               run=run, eval_data=None, device=None).passed  # doctest: +SKIP
        True
    """
    from hubkit.verify.verifier import VerifyOptions, verify_revision

    options = VerifyOptions(eval_data=eval_data, device=device or "auto")
    result = verify_revision(repo_id, commit, endpoint=endpoint, token=token, run=run, options=options)
    record = dataclasses.replace(result.to_record(timings=False), revision=revision, commit=commit)
    return Verified(passed=result.passed, data=record.to_json(), failures=tuple(result.failures))


def passed(data: bytes | None) -> bool | None:
    """Whether a stored ``verification.json`` says the revision passed (None when there is none).

    Example:
        >>> passed(b'{"format": 1, "passed": true}')
        True
    """
    if not data:
        return None
    try:
        return VerificationRecord.from_json(data).passed
    except RecordError:
        return False  # unreadable or from a newer hubkit: verify again rather than trust it
