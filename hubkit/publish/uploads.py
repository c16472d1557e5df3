"""Sending a revision's files: weights uploaded ahead of their commit, then the commit itself.

An object uploaded ahead is invisible until a commit refers to it, so the weights of the next revision can
travel while the current one is committed and verified. Every object is sent at most once: what the
branch already holds (``known``) is referred to, not uploaded again.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from hubkit.publish.content import Converter
from hubkit.publish.files import LocalFile
from hubkit.publish.progress import Progress
from hubkit.publish.remote import Remote

if TYPE_CHECKING:
    from hubkit.publish.plan import RevisionPlan


class Uploads:
    """The uploads of one publish: ahead of their commits, and the commits."""

    def __init__(self, remote: Remote, converter: Converter, progress: Progress) -> None:
        self.remote = remote
        self.converter = converter
        self.progress = progress
        self._ahead: dict[str, Future[None]] = {}
        self.revision: str | None = None  # where objects are uploaded for (a pull request's ref; None: main)

    def ahead(self, pool: ThreadPoolExecutor, rev: RevisionPlan) -> None:
        """Start uploading ``rev``'s converted weights in ``pool`` (once its conversion is done)."""
        if rev.action not in ("publish", "replace") or rev.name in self._ahead:
            return
        converter, remote, revision = self.converter, self.remote, self.revision

        def upload() -> None:
            from hubkit.hub.client import streaming_add

            weights = converter.result(rev.name, rev.item).weights_file
            if weights.local_path is None or weights.sha256 in rev.known_objects:
                return
            op = streaming_add(weights.path, weights.local_path, sha256=weights.sha256, size=weights.size)
            remote.upload_objects([op], revision)

        self._ahead[rev.name] = pool.submit(upload)

    def wait(self, rev: RevisionPlan) -> None:
        """Wait for ``rev``'s upload ahead (if one was started); its errors surface here."""
        future = self._ahead.pop(rev.name, None)
        if future is not None:
            with self.progress.timed("upload"):
                future.result()

    def commit(
        self,
        known: set[str],
        branch: str,
        files: list[LocalFile] | tuple[LocalFile, ...],
        message: str,
        parent: str,
        deletes: list[str] | tuple[str, ...] = (),
    ) -> tuple[str, int, int]:
        """Commit ``files`` (and ``deletes``) onto ``branch``.

        Returns the commit, the bytes of the objects the Hub did not hold as whole files, and how many of
        those bytes Xet found already stored as chunks (not sent again).
        ``known``: sha256s the Hub already holds for this revision (updated with what this commit sends).
        """
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        from hubkit.hub.client import streaming_add

        ops: list[Any] = []
        sent = 0
        new: list[str] = []
        for f in files:
            if f.data is not None:
                ops.append(CommitOperationAdd(path_in_repo=f.path, path_or_fileobj=f.data))
            else:
                assert f.local_path is not None
                # conversion hashed the file while writing it: no second read to hash it again
                ops.append(streaming_add(f.path, f.local_path, sha256=f.sha256, size=f.size))
            if f.sha256 not in known:
                sent += f.size
                new.append(f.sha256)
                known.add(f.sha256)
        ops += [CommitOperationDelete(path_in_repo=p) for p in deletes]
        with self.progress.timed("upload"):
            commit = self.remote.commit(branch, ops, message, parent=parent)
        return commit, sent, self.deduplicated(new)

    def deduplicated(self, sha256s: list[str]) -> int:
        """Bytes of these objects that their Xet upload (ahead or in the commit) did not have to send."""
        transfers = getattr(self.remote.api, "transfers", {})  # a HubkitApi's per-sha256 Xet reports
        return sum(transfers[s].deduplicated_bytes for s in sha256s if s in transfers)
