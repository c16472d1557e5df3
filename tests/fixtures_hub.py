"""Fixtures for the local Hub server: a real hubkit hub over HTTP, used through huggingface_hub.

* ``hub``: a function-scoped :class:`hubkit.hub.LocalHub` on a fresh data dir, token required for writes.
* ``hub_api``: a plain ``huggingface_hub.HfApi`` bound to it (the unmodified default client).
* ``session_hub`` / ``session_hub_api``: one hub for the whole session, for read-mostly tests that
  create their own uniquely named repos.
* ``hub_repo``: a fresh empty model repo on ``hub`` (its id).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from huggingface_hub import HfApi

from hubkit.hub import LocalHub

HUB_TOKEN = "hubkit-test-token-123"
HUB_USER = "localuser"


@pytest.fixture
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    """A local hub on a fresh data dir, token ``hubkit-test-token-123`` required for writes."""
    with LocalHub(tmp_path_factory.mktemp("hub-data"), token=HUB_TOKEN) as server:
        yield server


@pytest.fixture
def hub_api(hub: LocalHub) -> HfApi:
    """The unmodified huggingface_hub client bound to ``hub``."""
    return HfApi(endpoint=hub.endpoint, token=hub.token)


@pytest.fixture
def hub_repo(hub_api: HfApi) -> str:
    """A new empty model repo on ``hub``; returns its id (``localuser/repo-<hex>``)."""
    repo_id = f"{HUB_USER}/repo-{uuid.uuid4().hex[:8]}"
    hub_api.create_repo(repo_id)
    return repo_id


@pytest.fixture(scope="session")
def session_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHub]:
    """One local hub for the whole test session (create uniquely named repos on it)."""
    with LocalHub(tmp_path_factory.mktemp("session-hub-data"), token=HUB_TOKEN) as server:
        yield server


@pytest.fixture
def session_hub_api(session_hub: LocalHub) -> HfApi:
    return HfApi(endpoint=session_hub.endpoint, token=session_hub.token)
