"""Input checks of the local hub: repo ids, revisions, paths in repos, body sizes.

Every check raises :class:`HubHTTPError`, which the app turns into a JSON response with an
``X-Error-Code`` header (the code ``huggingface_hub`` maps to an exception class). Nothing a client
sends may end in a 500: bad input is a 4xx with a reason.
"""

from __future__ import annotations

import re

# The same shape huggingface_hub validates client side (utils/_validators.py), without "--" and "..".
_REPO_PART_RE = re.compile(r"^[A-Za-z0-9][\w\-.]{0,95}$", re.ASCII)
_HEX40_RE = re.compile(r"^[0-9a-f]{40}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

# repo type as it appears in URLs ("models", "datasets", ...) -> repo type name
REPO_TYPES: dict[str, str] = {
    "models": "model",
    "datasets": "dataset",
    "spaces": "space",
    "kernels": "kernel",
}
# Web-URL prefix of each repo type (models have none), as in huggingface_hub.constants.REPO_TYPES_URL_PREFIXES.
URL_PREFIXES: dict[str, str] = {"model": "", "dataset": "datasets/", "space": "spaces/", "kernel": "kernels/"}

MAX_JSON_BODY = 1 * 1024 * 1024  # preupload lists 256 files with 512-byte samples: ~200 KB at most
MAX_PATH_LENGTH = 1024
MAX_REVISION_LENGTH = 255


class HubHTTPError(Exception):
    """An error answer of the local hub (a status, an ``X-Error-Code`` and a message).

    Example:
        >>> raise HubHTTPError(404, "RepoNotFound", "Repository not found: u/x")
    """

    def __init__(
        self, status: int, code: str, message: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status  # 404
        self.code = code  # "RepoNotFound", "RevisionNotFound", "EntryNotFound", "InvalidPath", ...
        self.message = message  # "Repository not found: localuser/demo"
        self.headers = headers  # extra response headers, e.g. (("X-Repo-Commit", sha),)


def repo_not_found() -> HubHTTPError:
    """The Hub's 404 for a repo that does not exist or that the caller may not see (the same answer).

    The message is the Hub's: the client's own text already contains it, so ``str(err)`` stays the
    client's message plus the request id.
    """
    return HubHTTPError(404, "RepoNotFound", "Repository not found")


def bad_request(message: str, code: str = "BadRequest") -> HubHTTPError:
    """A 400 answer with ``code``.

    Example:
        >>> bad_request("malformed JSON").status
        400
    """
    return HubHTTPError(400, code, message)


def check_repo_type(url_type: str) -> str:
    """Return the repo type for a URL segment such as ``"datasets"``.

    Example:
        >>> check_repo_type("datasets")
        'dataset'
    """
    if url_type not in REPO_TYPES:
        raise bad_request(
            f"Unknown repo type {url_type!r}; use models, datasets, spaces or kernels.", "InvalidRepoType"
        )
    return REPO_TYPES[url_type]


def check_repo_type_name(name: str | None) -> str:
    """Return a repo type given as ``"model"`` / ``"dataset"`` / ... (``None`` means model)."""
    if name is None:
        return "model"
    if not isinstance(name, str) or name not in URL_PREFIXES:
        raise bad_request(
            f"Unknown repo type {name!r}; use model, dataset, space or kernel.", "InvalidRepoType"
        )
    return name


def check_repo_part(part: object, what: str = "repo name") -> str:
    """Check one half of a repo id (namespace or name).

    Example:
        >>> check_repo_part("tiny-vit")
        'tiny-vit'
    """
    if (
        not isinstance(part, str)
        or not _REPO_PART_RE.match(part)
        or ".." in part
        or "--" in part
        or part.endswith((".", "-"))
        or part.endswith(".git")
    ):
        raise bad_request(
            f"Invalid {what} {part!r}: use letters, digits, '-', '_' and '.', up to 96 characters, "
            "without '--' or '..'.",
            "InvalidRepoId",
        )
    return part


def check_revision(rev: str) -> str:
    """Check a branch, tag or commit name (may contain ``/``, never ``..``, NUL or a leading ``/``).

    Example:
        >>> check_revision("feat/x")
        'feat/x'
    """
    if (
        not rev
        or len(rev) > MAX_REVISION_LENGTH
        or "\x00" in rev
        or "\\" in rev
        or ".." in rev
        or rev.startswith(("/", "-", "."))
        or rev.endswith(("/", ".lock", "."))
        or "//" in rev
        or any(ord(c) < 32 or c in " ~^:?*[" for c in rev)
    ):
        raise bad_request(f"Invalid revision name {rev!r}.", "InvalidRevision")
    return rev


def check_branch_name(name: object) -> str:
    """A new branch or tag name: a valid revision that cannot be mistaken for a commit id."""
    if not isinstance(name, str):
        raise bad_request("Branch and tag names must be strings.", "InvalidRevision")
    check_revision(name)
    if _HEX40_RE.match(name) or name.startswith("refs/"):
        raise bad_request(f"Invalid branch or tag name {name!r}: reserved form.", "InvalidRevision")
    return name


def check_path(path: object, *, allow_empty: bool = False) -> str:
    """Check a file path inside a repo: relative, ``/``-separated, no ``..`` part, no NUL.

    A backslash is an ordinary character, as on the Hub, except in a leading ``..\\`` (422).

    Example:
        >>> check_path("sub/model.safetensors")
        'sub/model.safetensors'
    """
    if not isinstance(path, str):
        raise bad_request("A path in the repo must be a string.", "InvalidPath")
    if path == "" and allow_empty:
        return path
    parts = path.split("/")
    if parts[0].split("\\")[0] == ".." and "\\" in parts[0]:
        # The Hub answers 422 for a path that climbs out of the repo through Windows separators (``..\\x``);
        # elsewhere a backslash is an ordinary character in a repo path (clients guard their own disks).
        raise HubHTTPError(422, "InvalidPath", f"Invalid path in repo {path!r}: it starts with '..'.")
    if (
        not path
        or len(path) > MAX_PATH_LENGTH
        or path.startswith("/")
        or "\x00" in path
        or any(p in ("", ".", "..") for p in parts)
        or any(ord(c) < 32 for c in path)
        or parts[0] == ".git"
    ):
        raise bad_request(
            f"Invalid path in repo {path!r}: use a relative path with '/' separators, "
            "without '..', '.', empty parts or control characters.",
            "InvalidPath",
        )
    return path


def is_commit_id(rev: str) -> bool:
    """Whether ``rev`` looks like a full commit id (40 lowercase hex).

    Example:
        >>> is_commit_id("a" * 40)
        True
    """
    return bool(_HEX40_RE.match(rev))


def check_sha256(oid: object) -> str:
    """Check an LFS object id (64 lowercase hex).

    Example:
        >>> check_sha256("0" * 64) == "0" * 64
        True
    """
    if not isinstance(oid, str) or not _SHA256_RE.match(oid):
        raise bad_request(f"Invalid sha256 object id {oid!r}.", "InvalidOid")
    return oid
