"""Names on the Hub: repo ids, revision (branch) names and the staging branches hubkit uses.

Everything here is checked before hubkit changes anything remotely, so a bad ``--repo`` or
``--branch-format`` fails fast with :class:`~hubkit.errors.RepoIdError`.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from dataclasses import dataclass

from hubkit.errors import RepoIdError

DEFAULT_BRANCH_FORMAT = "epoch-{epoch:03d}"
# Staged commits live on "<prefix><final branch>" until verified; the final ref appears only then.
STAGING_PREFIX = "hubkit-staging-"
# Names hubkit never creates as revision branches: they already mean something on the Hub.
RESERVED_BRANCHES = frozenset({"main", "HEAD"})

# git check-ref-format rules (https://git-scm.com/docs/git-check-ref-format), as data.
_REF_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("contains a control character, space or one of ~ ^ : ? * [ \\", re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")),
    ("contains '..'", re.compile(r"\.\.")),
    ("contains '@{'", re.compile(r"@\{")),
    ("contains '//' or starts/ends with '/'", re.compile(r"//|^/|/$")),
    ("has a component that starts with '.' or ends with '.lock'", re.compile(r"(^|/)\.|\.lock(/|$)")),
    ("ends with '.'", re.compile(r"\.$")),
)
_COMMIT_RE = re.compile(r"[0-9a-f]{40}")


def validate_repo_id(repo_id: str) -> str:
    """Check ``repo_id`` with huggingface_hub's own validator and return it.

    Args:
        repo_id: ``"ORG/NAME"`` (or ``"NAME"`` for the token owner's namespace).

    Returns:
        The same repo id.

    Raises:
        RepoIdError: when the Hub would reject the name.

    Example:
        >>> validate_repo_id("my-org/resnet-digits")
        'my-org/resnet-digits'
    """
    from huggingface_hub.utils import HFValidationError
    from huggingface_hub.utils import validate_repo_id as hf_validate

    try:
        hf_validate(repo_id)
    except HFValidationError as exc:
        raise RepoIdError(
            f"invalid repo id {repo_id!r}: {exc}",
            hint="use ORG/NAME with letters, digits, '-', '_' or '.' (no '--' or '..'), e.g. my-org/resnet-digits",
        ) from None
    return repo_id


def validate_branch(name: str) -> str:
    """Check that ``name`` is a valid branch name for a hubkit revision and return it.

    Example:
        >>> validate_branch("epoch-004")
        'epoch-004'
    """
    hint = 'choose a --branch-format such as "epoch-{epoch:03d}" (letters, digits, "-", "_", ".", "/")'
    if not name:
        raise RepoIdError("the branch format produced an empty branch name", hint=hint)
    for why, pattern in _REF_RULES:
        if pattern.search(name):
            raise RepoIdError(f"invalid branch name {name!r}: it {why}", hint=hint)
    if name in RESERVED_BRANCHES or name.startswith(("refs/", STAGING_PREFIX)) or name == "@":
        raise RepoIdError(f"branch name {name!r} is reserved", hint=hint)
    if _COMMIT_RE.fullmatch(name):
        raise RepoIdError(f"branch name {name!r} looks like a commit id", hint=hint)
    return name


@dataclass(frozen=True)
class BranchFields:
    """The values a ``--branch-format`` may use."""

    epoch: int  # 4
    epochs: int  # 10 (total epochs of the run)
    step: int | None  # 1250, or None when the run does not record steps
    run: str  # "timm-digits"


def branch_name(fmt: str, fields: BranchFields) -> str:
    """Format one revision branch name and validate it.

    Args:
        fmt: a ``str.format`` pattern using ``epoch``, ``epochs``, ``step`` or ``run``.
        fields: the values for this checkpoint.

    Example:
        >>> branch_name("epoch-{epoch:03d}", BranchFields(epoch=4, epochs=10, step=None, run="r"))
        'epoch-004'
    """
    allowed = {"epoch", "epochs", "step", "run"}
    used = {f[1].split(".")[0].split("[")[0] for f in string.Formatter().parse(fmt) if f[1] is not None}
    unknown = sorted(used - allowed)
    if unknown:
        raise RepoIdError(
            f"--branch-format {fmt!r} uses unknown field(s) {', '.join(unknown)}",
            hint='available fields: {epoch}, {epochs}, {step}, {run}; e.g. "epoch-{epoch:03d}"',
        )
    if "step" in used and fields.step is None:
        raise RepoIdError(
            f"--branch-format {fmt!r} uses {{step}} but the run does not record steps",
            hint='use {epoch} instead, e.g. "epoch-{epoch:03d}"',
        )
    try:
        name = fmt.format(epoch=fields.epoch, epochs=fields.epochs, step=fields.step, run=fields.run)
    except (ValueError, IndexError, KeyError) as exc:
        raise RepoIdError(
            f"--branch-format {fmt!r} cannot be formatted: {exc}", hint="check the format spec"
        ) from None
    return validate_branch(name)


def branch_names(fmt: str, fields: Iterable[BranchFields]) -> list[str]:
    """Format the branch names of several checkpoints; they must be distinct.

    Example:
        >>> branch_names("e{epoch}", [BranchFields(1, 2, None, "r"), BranchFields(2, 2, None, "r")])
        ['e1', 'e2']
    """
    names: list[str] = []
    for f in fields:
        name = branch_name(fmt, f)
        if name in names:
            raise RepoIdError(
                f"--branch-format {fmt!r} gives the same branch {name!r} to two checkpoints",
                hint="include {epoch} in the format",
            )
        names.append(name)
    return names


def staging_branch(final: str) -> str:
    """The temporary branch a revision is staged on before ``final`` is created.

    Example:
        >>> staging_branch("epoch-004")
        'hubkit-staging-epoch-004'
    """
    return STAGING_PREFIX + final


def default_repo_id(run_name: str, namespace: str = "local") -> str:
    """A valid repo id derived from a run name, for the embedded local hub.

    Example:
        >>> default_repo_id("20260101-120000-resnet18-224")
        'local/20260101-120000-resnet18-224'
    """
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", run_name)
    name = re.sub(r"-{2,}", "-", re.sub(r"\.{2,}", ".", name)).strip("-.")[:96] or "run"
    if name.endswith(".git"):
        name = name[: -len(".git")] + "-git"
    return validate_repo_id(f"{namespace}/{name}")


def load_line(framework: str, repo_id: str, revision: str | None) -> str:
    """One line of Python that loads exactly ``revision`` of ``repo_id`` (``main`` when None).

    Example:
        >>> load_line("timm", "org/name", "epoch-004")
        'timm.create_model("hf-hub:org/name@epoch-004", pretrained=True)'
    """
    from hubkit import frameworks

    return frameworks.get(framework).load_line(repo_id, revision)
