"""The one repo hubkit publishes to: read-only queries and the few writes, with errors translated.

Every call to the Hub goes through :class:`Remote`, so that failures become :class:`~hubkit.errors.HubError`
with a next step (and never show the token), and so that ``--dry-run`` can be checked to use only the
read-only half (:attr:`Remote.read_only` makes every write raise).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from hubkit.errors import HubError
from hubkit.publish.endpoint import display_endpoint
from hubkit.publish.files import RemoteFile
from hubkit.secrets import redact

if TYPE_CHECKING:
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.hf_api import CommitOperation

T = TypeVar("T")


@dataclass(frozen=True)
class Refs:
    """Branches and tags of the repo, name -> commit id."""

    branches: dict[str, str] = field(default_factory=dict)  # {"main": "3f2a…", "epoch-004": "9c1d…"}
    tags: dict[str, str] = field(default_factory=dict)  # {"v1": "3f2a…"}


class Remote:
    """The target repo on one endpoint.

    Args:
        api: an ``HfApi`` bound to the endpoint and token (``hubkit.hub.client.hub_api``).
        repo_id: ``"ORG/NAME"``.
        read_only: when True every write raises (used by ``--dry-run``).

    Example:
        >>> remote = Remote(hub_api(endpoint, token), "local/run")  # doctest: +SKIP
        >>> remote.refs()  # None when the repo does not exist yet  # doctest: +SKIP
    """

    def __init__(self, api: HfApi, repo_id: str, *, read_only: bool = False) -> None:
        self.api = api
        self.repo_id = repo_id
        self.read_only = read_only
        self.endpoint = str(api.endpoint).rstrip("/")
        self.commits_made = 0
        self._user: str | None = None

    # --- errors ------------------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        import httpx2
        from huggingface_hub.errors import HfHubHTTPError

        from hubkit.hub.client import with_retries

        try:
            # Transient failures (429/5xx, cut connections) are retried with backoff; see with_retries.
            return with_retries(fn, *args, what=what, **kwargs)
        except HfHubHTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            hint = "check the endpoint and try again; re-running completes what is missing"
            if status in (401, 403):
                hint = (
                    f"the token has no write access to {self.repo_id}: pass --token (or set HF_TOKEN / "
                    "run `hf auth login`) with write access to the namespace"
                )
            raise HubError(
                redact(f"{what} failed on {display_endpoint(self.endpoint)} for {self.repo_id}: {exc}"),
                hint=hint,
            ) from None
        except (OSError, ConnectionError, httpx2.TransportError) as exc:
            raise HubError(
                redact(f"{what} failed: cannot reach {display_endpoint(self.endpoint)} ({exc})"),
                hint="check --endpoint / HF_ENDPOINT, or start the server with `hubkit hub serve`",
            ) from None

    def _write(self) -> None:
        if self.read_only:  # a programming error guard: dry runs must never reach a write
            raise RuntimeError("write attempted on a read-only remote (dry run)")

    # --- reads -------------------------------------------------------------------------------------
    def refs(self) -> Refs | None:
        """Branches and tags, or None when the repo does not exist."""
        from huggingface_hub.errors import RepositoryNotFoundError

        def fetch() -> Any:
            try:
                return self.api.list_repo_refs(self.repo_id)
            except RepositoryNotFoundError:
                return None

        refs = self._call("listing branches", fetch)
        if refs is None:
            return None
        return Refs(
            branches={r.name: r.target_commit for r in refs.branches},
            tags={r.name: r.target_commit for r in refs.tags},
        )

    def files(self, revision: str) -> dict[str, RemoteFile]:
        """Every file at ``revision`` (a branch or commit id), by path."""
        from huggingface_hub.hf_api import RepoFolder

        entries = self._call(
            f"listing files of {revision}",
            lambda: list(self.api.list_repo_tree(self.repo_id, recursive=True, revision=revision)),
        )
        result: dict[str, RemoteFile] = {}
        for entry in entries:
            if isinstance(entry, RepoFolder):
                continue
            lfs = getattr(entry, "lfs", None)
            result[entry.path] = RemoteFile(
                path=entry.path,
                size=int(entry.size),
                sha256=lfs.sha256 if lfs else None,
                blob_id=entry.blob_id,
            )
        return result

    def read_small(self, revision: str, path: str) -> bytes:
        """The bytes of a small file (``verification.json``) without writing any local cache."""
        from huggingface_hub import hf_hub_url
        from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

        url = hf_hub_url(self.repo_id, path, revision=revision, endpoint=self.endpoint)
        headers = build_hf_headers(token=self.api.token, library_name="hubkit")

        def fetch() -> bytes:
            response = get_session().get(url, headers=headers, follow_redirects=True)
            hf_raise_for_status(response)
            return bytes(response.content)

        return self._call(f"reading {path} at {revision}", fetch)

    def initial_commit(self) -> str:
        """The repo's first commit: staging branches start there so they hold only one revision's files."""
        commits = self._call("listing commits", self.api.list_repo_commits, self.repo_id, revision="main")
        return str(commits[-1].commit_id)

    # --- writes ------------------------------------------------------------------------------------
    def ensure_repo(self, *, private: bool) -> None:
        """Create the repo when it is missing (an existing repo is left as it is)."""
        self._write()
        self._call("creating the repo", self.api.create_repo, self.repo_id, private=private, exist_ok=True)

    def commit(
        self, revision: str, operations: Iterable[CommitOperation], message: str, *, parent: str | None = None
    ) -> str:
        """One atomic commit on ``revision``; returns the new commit id."""
        self._write()
        info = self._call(
            f"committing to {revision}",
            self.api.create_commit,
            self.repo_id,
            operations=list(operations),
            commit_message=message,
            revision=revision,
            parent_commit=parent,
        )
        self.commits_made += 1
        return str(info.oid)

    def upload_objects(self, operations: list[CommitOperationAdd], revision: str | None = None) -> None:
        """Upload the LFS objects of ``operations`` ahead of the commit that will use them.

        Objects are invisible until a commit refers to them; the commit then finds them stored and
        sends only its metadata. Regular (small) files are left for the commit itself.
        """
        self._write()
        self._call(
            "uploading weights",
            self.api.preupload_lfs_files,
            self.repo_id,
            additions=operations,
            revision=revision,  # a pull request's ref: its author may upload there, not to main
            free_memory=False,  # hubkit's streaming adds own an open file; they close it themselves
        )

    def create_branch(self, branch: str, revision: str) -> None:
        self._write()
        self._ref_write(
            f"creating branch {branch}",
            lambda: self.api.create_branch(self.repo_id, branch=branch, revision=revision),
            lambda refs: refs.branches.get(branch) == revision,
        )

    def delete_branch(self, branch: str) -> None:
        self._write()
        self._ref_write(
            f"deleting branch {branch}",
            lambda: self.api.delete_branch(self.repo_id, branch=branch),
            lambda refs: branch not in refs.branches,
        )

    def create_tag(self, tag: str, revision: str) -> None:
        self._write()
        self._ref_write(
            f"creating tag {tag}",
            lambda: self.api.create_tag(self.repo_id, tag=tag, revision=revision),
            lambda refs: refs.tags.get(tag) == revision,
        )

    def delete_tag(self, tag: str) -> None:
        self._write()
        self._ref_write(
            f"deleting tag {tag}",
            lambda: self.api.delete_tag(self.repo_id, tag=tag),
            lambda refs: tag not in refs.tags,
        )

    # --- pull requests (``--create-pr`` and ``hubkit pr merge``) ------------------------------------
    def user(self) -> str:
        """The token's user name (asked once)."""
        if self._user is None:
            self._user = str(self._call("asking who the token belongs to", self.api.whoami)["name"])
        return self._user

    def open_pull_requests(self, author: str) -> list[tuple[int, str]]:
        """``(num, title)`` of the open pull requests of ``author``, newest first."""

        def fetch() -> list[tuple[int, str]]:
            found = self.api.get_repo_discussions(self.repo_id, author=author, discussion_type="pull_request")
            return [
                (d.num, d.title)
                for d in found
                if d.is_pull_request and d.author == author and d.status in ("open", "draft")
            ]

        return sorted(self._call("listing pull requests", fetch), reverse=True)

    def open_pull_request(self, title: str, description: str) -> int:
        """Open a pull request against main; returns its number.

        Safe to retry: a retry first looks for an open pull request of this user with this title, which a
        try that lost its answer made (so a cut connection does not leave two pull requests).
        """
        self._write()
        me, tries = self.user(), 0

        def attempt() -> int:
            nonlocal tries
            tries += 1
            if tries > 1:
                for num, found in self.open_pull_requests(me):
                    if found == title:
                        return num
            details = self.api.create_pull_request(self.repo_id, title=title, description=description)
            return int(details.num)

        return self._call("opening a pull request", attempt)

    def pull_request(self, num: int) -> Any:
        """The pull request's details (``huggingface_hub.DiscussionWithDetails``); None when there is no
        discussion ``num``."""
        from huggingface_hub.errors import HfHubHTTPError

        def fetch() -> Any:
            try:
                return self.api.get_discussion_details(self.repo_id, num)
            except HfHubHTTPError as exc:  # the client reads any unknown 404 as a missing repo: ask the code
                if (
                    exc.response is not None
                    and exc.response.headers.get("X-Error-Code") == "DiscussionNotFound"
                ):
                    return None
                raise

        return self._call(f"reading pull request #{num}", fetch)

    def pull_request_head(self, num: int) -> str | None:
        """Where ``refs/pr/NUM`` points (None when there is no such pull request)."""
        refs = self._call(
            "listing pull requests", self.api.list_repo_refs, self.repo_id, include_pull_requests=True
        )
        heads = {r.ref: r.target_commit for r in refs.pull_requests or []}
        return heads.get(f"refs/pr/{num}")

    def history(self, revision: str) -> set[str]:
        """The ids of every commit reachable from ``revision``."""
        commits = self._call(
            f"listing commits of {revision}", self.api.list_repo_commits, self.repo_id, revision=revision
        )
        return {str(c.commit_id) for c in commits}

    def comment(self, num: int, text: str) -> None:
        self._write()
        self._call(f"commenting on #{num}", self.api.comment_discussion, self.repo_id, num, text)

    def merge_pull_request(self, num: int) -> None:
        self._write()
        self._call(f"merging pull request #{num}", self.api.merge_pull_request, self.repo_id, num)

    def _ref_write(self, what: str, write: Callable[[], Any], done: Callable[[Refs], bool]) -> None:
        """A branch/tag write that is safe to retry: when a retried try lost its answer, the first try
        landed and the retry gets 409 (exists) or 404 (gone); if the refs show the wanted state, that is
        success."""
        try:
            self._call(what, write)
        except HubError:
            refs = self.refs()
            if refs is None or not done(refs):
                raise

    @property
    def repo_url(self) -> str:
        return f"{display_endpoint(self.endpoint)}/{self.repo_id}"
