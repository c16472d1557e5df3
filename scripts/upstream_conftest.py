"""conftest.py for huggingface_hub's upstream tests run against hubkit's local hub.

The PyPI sdist of huggingface_hub ships its test modules but not their ``conftest.py``, so
``scripts/upstream_hub_tests.py`` copies this file next to them. It provides the fixtures the model-repo
subset asks for, written from how the tests use them (``api``, ``repo_factory`` / ``RepoFactory``,
``api_prod``), the markers of upstream's pytest config, and a recorder that writes every test's outcome
to the JSON file named by ``HUBKIT_UPSTREAM_REPORT``.

The hub, its user and token come from ``testing_constants.py``, which the runner rewrote.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import HfApi
from huggingface_hub.hf_api import RepoUrl

from .testing_constants import ENDPOINT_STAGING, TOKEN, USER
from .testing_utils import repo_name

_RESULTS: dict[str, dict[str, str]] = {}


class RepoFactory:
    """Creates repos for a test and deletes them afterwards: ``repo_factory("dataset", private=True)``."""

    def __init__(self, api: HfApi) -> None:
        self._api = api
        self._created: list[tuple[str, str, str | None]] = []

    def __call__(
        self,
        repo_type: str | None = None,
        *,
        repo_id: str | None = None,
        token: str | None = None,
        **kwargs: Any,
    ) -> RepoUrl:
        token = token or TOKEN
        if repo_id is None:
            repo_id = repo_name()
        if "/" not in repo_id:
            owner = USER if token == TOKEN else self._api.whoami(token=token)["name"]
            repo_id = f"{owner}/{repo_id}"
        url = self._api.create_repo(repo_id, repo_type=repo_type, token=token, **kwargs)
        self._created.append((url.repo_id, repo_type or "model", token))
        return url

    def cleanup(self) -> None:
        for repo_id, repo_type, token in self._created:
            # A test may have moved or deleted it; cleanup must not hide the test's outcome.
            with contextlib.suppress(Exception):
                self._api.delete_repo(repo_id, repo_type=repo_type, token=token, missing_ok=True)


@pytest.fixture(scope="session")  # class-scoped fixtures of the upstream tests ask for it
def api() -> HfApi:
    return HfApi(endpoint=ENDPOINT_STAGING, token=TOKEN)


@pytest.fixture
def api_prod() -> HfApi:
    pytest.skip("needs huggingface.co (production), which the local-hub run does not reach")


@pytest.fixture
def repo_factory(api: HfApi) -> Iterator[RepoFactory]:
    factory = RepoFactory(api)
    yield factory
    factory.cleanup()


_MARKERS = {
    "api": "repo/utility test",
    "transfer": "upload/download test",
    "inference": "inference test",
    "xet": "needs hf_xet (Xet force-enabled)",
    "no_xet": "must run without hf_xet",
    "production": "runs against huggingface.co",
    "deprecated": "expects a FutureWarning",
    "git_lfs": "needs git-lfs",
    "vcr": "replays recorded HTTP (pytest-vcr)",
}


def pytest_configure(config: pytest.Config) -> None:
    for name, text in _MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drop what cannot run here: tests against huggingface.co itself and git-lfs tests."""
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        (
            drop if item.get_closest_marker("production") or item.get_closest_marker("git_lfs") else keep
        ).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _first_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        text = str(crash.message)
    elif isinstance(report.longrepr, tuple):  # skips: (file, line, reason)
        text = str(report.longrepr[2])
    else:
        text = str(report.longrepr or "")
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0][:300] if lines else ""


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    entry = _RESULTS.setdefault(report.nodeid, {"outcome": "passed", "reason": ""})
    if report.when == "call" and report.passed and entry["outcome"] == "passed":
        return
    if report.failed:
        if entry["outcome"] in ("failed", "error"):
            return  # keep the first failure (a teardown error after a failed call adds nothing)
        entry["outcome"] = "failed" if report.when == "call" else "error"
        entry["reason"] = (
            f"{report.when}: {_first_line(report)}" if report.when != "call" else _first_line(report)
        )
    elif report.skipped:
        entry["outcome"] = "skipped"
        entry["reason"] = _first_line(report)


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get("HUBKIT_UPSTREAM_REPORT")
    if path:
        Path(path).write_text(json.dumps(_RESULTS, indent=1, sort_keys=True), encoding="utf-8")
