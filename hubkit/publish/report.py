"""The result of ``hubkit publish``: dataclasses and the one JSON object ``--json`` prints.

The JSON shape is a contract (a GitHub Action parses it); :meth:`PublishReport.to_json` is the only
place that builds it. Durations live here and only here: nothing timed is ever committed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

RevisionStatus = Literal["published", "unchanged", "replaced", "planned", "proposed"]


@dataclass(frozen=True)
class FileReport:
    """One file of a revision."""

    path: str  # "model.safetensors"
    size: int  # 1_234_567
    sha256: str  # 64 hex digits

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True)
class RevisionReport:
    """What happened to one checkpoint's revision."""

    revision: str  # "epoch-004"
    epoch: int  # 4
    commit: str | None  # 40-hex commit the branch points at; None in a dry run for a new revision
    status: (
        RevisionStatus  # "published" | "unchanged" | "replaced" | "planned" | "proposed" (in a pull request)
    )
    bytes_uploaded: int  # 0 when unchanged or planned
    files: tuple[FileReport, ...]  # every file of the revision, README and hubkit.json included
    metrics: Mapping[str, float]  # {"eval_top1": 91.2, "eval_loss": 0.31}
    verified: bool | None  # True/False: verification result; None: not verified (and none on record)
    reasons: tuple[str, ...]  # why this epoch was selected: ("best eval_top1", "last epoch")
    note: str = ""  # what the plan found, for people (not in JSON): "branch exists with identical files"
    bytes_deduplicated: int = 0  # of bytes_uploaded, what Xet found already stored as chunks (not sent)

    def to_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "epoch": self.epoch,
            "commit": self.commit,
            "status": self.status,
            "bytes_uploaded": self.bytes_uploaded,
            "bytes_deduplicated": self.bytes_deduplicated,
            "files": [f.to_json() for f in self.files],
            "metrics": dict(self.metrics),
            "verified": self.verified,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class MainReport:
    """Where ``main`` ended up."""

    commit: str | None  # 40-hex; None in a dry run when main would change
    epoch: int  # the epoch whose weights main holds

    def to_json(self) -> dict[str, Any]:
        return {"revision": "main", "commit": self.commit, "epoch": self.epoch}


@dataclass(frozen=True)
class PullRequestReport:
    """The pull request a ``--create-pr`` publish opened (or continued): the release waits in it."""

    num: int  # 3
    url: str  # "http://127.0.0.1:51234/org/name/discussions/3"
    head: str  # its last commit (main's content after the merge)

    def to_json(self) -> dict[str, Any]:
        return {"num": self.num, "url": self.url, "head": self.head}


@dataclass(frozen=True)
class PublishReport:
    """Everything ``hubkit publish`` did (or, with ``dry_run``, would do)."""

    repo_id: str  # "local/timm-digits"
    endpoint: str  # "http://127.0.0.1:51234" (never with credentials)
    repo_url: str  # "http://127.0.0.1:51234/local/timm-digits"
    dry_run: bool
    main: MainReport | None  # None with --main none
    tag: str | None  # "v1" when --tag was given
    revisions: tuple[RevisionReport, ...]
    commits: int  # commits made (0 on a no-op re-run); staging commits count
    main_bytes_uploaded: int = 0  # bytes sent for the main commit (not part of any revision)
    durations: Mapping[str, float] = field(default_factory=dict)  # {"convert": 1.2, "upload": 3.4}
    warnings: tuple[
        str, ...
    ] = ()  # ("frozen groups: group 'layer1' is frozen by --lock …",); JSON key when any
    # --- for the text summary only (not part of the JSON contract)
    framework: str = "timm"  # "timm" | "open_clip": how the load lines are written
    repo_existed: bool = True  # False when the repo did not exist before (a dry run then says so)
    pull_request: PullRequestReport | None = None  # with --create-pr: where the release waits for its merge

    @property
    def uploaded_bytes(self) -> int:
        """Bytes sent in commits, over every revision and ``main``."""
        return sum(r.bytes_uploaded for r in self.revisions) + self.main_bytes_uploaded

    @property
    def deduplicated_bytes(self) -> int:
        """Of :attr:`uploaded_bytes`, what Xet found already stored as chunks and did not send."""
        return sum(r.bytes_deduplicated for r in self.revisions)

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object, keys in contract order.

        Example:
            >>> PublishReport("o/n", "http://h", "http://h/o/n", True, None, None, (), 0).to_json()["commits"]
            0
        """
        return (
            {
                "repo_id": self.repo_id,
                "endpoint": self.endpoint,
                "repo_url": self.repo_url,
                "dry_run": self.dry_run,
                "main": self.main.to_json() if self.main else None,
                "tag": self.tag,
                "revisions": [r.to_json() for r in self.revisions],
                "uploaded_bytes": self.uploaded_bytes,
                "deduplicated_bytes": self.deduplicated_bytes,
                "commits": self.commits,
                "durations": {k: round(v, 3) for k, v in self.durations.items()},
            }
            | ({"warnings": list(self.warnings)} if self.warnings else {})
            | ({"pull_request": self.pull_request.to_json()} if self.pull_request else {})
        )

    def dumps(self) -> str:
        """The JSON text printed by ``--json`` (one line)."""
        return json.dumps(self.to_json(), sort_keys=False)
