"""Turn verification results into text for the terminal, ``verification.json`` commits and card data.

A card's "Verification" section is read from the committed ``verification.json``
(:func:`hubkit.publish.card.verification_facts`), not from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hubkit.layout import VERIFICATION_JSON
from hubkit.secrets import redact
from hubkit.verify.result import RevisionResult

if TYPE_CHECKING:
    pass


def format_result(result: RevisionResult) -> str:
    """A few plain lines about one revision (no colour codes, tokens redacted).

    Example:
        >>> print(format_result(result))
        PASS org/name@epoch-003 (3f2a9c1e2b4d) timm, cpu: top1 97.50 (recorded 97.78, Δ -0.28) ...
    """
    status = "PASS" if result.passed else "FAIL"
    commit = f" ({result.commit[:12]})" if result.commit else ""
    device = result.device.name if result.device else "?"
    lines = [f"{status} {result.repo_id}@{result.revision}{commit} {result.library or '-'} on {device}"]
    for check in result.checks:
        recorded = "" if check.recorded is None else f" (recorded {check.recorded:.2f}, Δ {check.delta:+.2f})"
        flag = "" if check.passed else "  <-- outside tolerance"
        lines.append(f"  {check.name:<20} {check.measured:9.3f}{recorded}{flag}")
    if result.integrity is not None:
        i = result.integrity
        diff = "n/a" if i.logits_max_abs_diff is None else f"{i.logits_max_abs_diff:.2g}"
        lines.append(
            f"  integrity: {i.tensors_compared} tensors vs {i.source} ({i.weights}), "
            f"{'identical' if not i.mismatches else 'DIFFERENT'}; max |Δ logits| {diff}"
        )
    if result.timings:
        t = result.timings
        parts = [f"{k.removesuffix('_s')} {v:.2f}s" for k, v in t.items() if k.endswith("_s")]
        if "images_per_s" in t:
            parts.append(f"{t['images_per_s']:.0f} images/s")
        lines.append("  time: " + ", ".join(parts))
    lines.extend(f"  note: {n}" for n in result.notes)
    lines.extend(f"  failure: {f}" for f in result.failures)
    return redact("\n".join(lines))


def summary_line(results: Sequence[RevisionResult]) -> str:
    """``"3 of 3 revisions verified"`` or which failed."""
    failed = [r for r in results if not r.passed]
    if not failed:
        return f"{len(results)} of {len(results)} revision(s) verified"
    names = ", ".join(r.revision for r in failed)
    return f"{len(failed)} of {len(results)} revision(s) failed verification: {names}"


def record_result(result: RevisionResult, *, endpoint: str | None, token: str | None) -> str:
    """Commit ``verification.json`` onto the verified branch, on top of the verified commit.

    Only for a passing result on a branch; ``parent_commit`` makes the Hub refuse the commit if the
    branch moved since it was verified. Returns the new commit id.

    Example:
        >>> record_result(result, endpoint=url, token=None)
        '9e1f…'
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    from hubkit.errors import HubError

    if not result.passed or not result.commit:
        raise ValueError("only a passing verification is recorded")
    try:
        info = HfApi(endpoint=endpoint, token=token).upload_file(
            path_or_fileobj=result.to_json().encode("utf-8"),
            path_in_repo=VERIFICATION_JSON,
            repo_id=result.repo_id,
            revision=result.revision,
            parent_commit=result.commit,
            commit_message=f"hubkit verify: {result.revision} ({result.commit[:12]}) passed",
        )
    except (HfHubHTTPError, OSError) as exc:
        raise HubError(
            redact(f"could not commit {VERIFICATION_JSON} to {result.repo_id}@{result.revision}: {exc}"),
            hint="--record needs a write token and a branch revision that did not move since it was verified",
        ) from exc
    return str(info.oid)


def results_json(results: Sequence[RevisionResult]) -> list[dict[str, Any]]:
    """The ``--json`` output: one ``verification.json`` object per revision."""
    return [r.to_dict() for r in results]
