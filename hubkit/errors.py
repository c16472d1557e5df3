"""The one error tree of hubkit, and the table that turns errors into exit codes.

Every error says what is wrong and what to do next (``hint``). Errors also inherit from the matching
stdlib type where one fits, so library users can catch ``ValueError`` or ``FileNotFoundError`` as usual
(the same pattern as ``huggingface_hub``'s ``LocalEntryNotFoundError(FileNotFoundError, ...)``).

Add new errors here, under the branch they belong to; the CLI maps them to exit codes through
:data:`EXIT_CODES` and nowhere else.
"""

from __future__ import annotations


class HubkitError(Exception):
    """Base of every error hubkit raises on purpose.

    Args:
        message: what is wrong, in one sentence (name the file, tag, revision … involved).
        hint: what the user should do next.

    Example:
        >>> raise RunDirError("runs/x has neither args.yaml nor params.txt", hint="Point hubkit at ...")
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


# --- bad input from the user (arguments, tags, names) -------------------------------------------
class InputError(HubkitError, ValueError):
    """An argument, option or name given by the user is invalid."""


class TagError(InputError):
    """A pretrained tag or OpenCLIP pair cannot be decoded (empty, malformed, unknown)."""


class RecipeError(InputError):
    """No reference recipe is known for a tag, or a recipe cannot be scaled as asked."""


class RepoIdError(InputError):
    """A Hub repo id or revision/branch name is not valid."""


# --- bad input on disk (run dirs, checkpoints, configs) ------------------------------------------
class RunDirError(HubkitError, FileNotFoundError):
    """A training output folder is missing, empty or of an unknown layout."""


class RunFileError(HubkitError, ValueError):
    """A file inside a run dir (args.yaml, params.txt, summary.csv, results.jsonl) cannot be used."""


class CheckpointError(HubkitError, ValueError):
    """A checkpoint is truncated, corrupt, has unexpected keys or does not fit its architecture."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint asks the unpickler for something outside the allowlist; nothing in it was run."""


# --- templates and cards ---------------------------------------------------------------------------
class TemplateError(HubkitError, ValueError):
    """A card template is missing, has a syntax error or uses an undefined variable."""


# --- the Hub -----------------------------------------------------------------------------------------
class HubError(HubkitError, ConnectionError):
    """The Hub (real or local) refused or failed a request."""


class RemoteConflictError(HubError):
    """A remote revision exists with different content; hubkit will not overwrite it without --force."""


class LocalHubError(HubkitError, RuntimeError):
    """The embedded local hub could not be started or its data dir is unusable."""


# --- verification --------------------------------------------------------------------------------
class VerificationError(HubkitError):
    """A published revision does not match its source or its recorded metrics."""


class RecordError(HubkitError, ValueError):
    """A published ``hubkit.json`` / ``verification.json`` cannot be read (malformed, or from a newer hubkit)."""


# Exit codes, in one place. Subclasses are looked up through the MRO, most specific first.
EXIT_CODES: dict[type[BaseException], int] = {
    InputError: 2,
    RunDirError: 3,
    RunFileError: 3,
    CheckpointError: 3,
    UnsafeCheckpointError: 4,
    TemplateError: 5,
    HubError: 6,
    LocalHubError: 6,
    VerificationError: 7,
    RecordError: 7,
    HubkitError: 1,
}


def exit_code_for(error: BaseException) -> int:
    """Return the CLI exit code for ``error`` (1 for anything not in :data:`EXIT_CODES`).

    Example:
        >>> exit_code_for(TagError("bad"))
        2
    """
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1
