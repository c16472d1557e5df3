"""Shared test setup: isolate every test from the user's caches, tokens and config.

Fixtures of each area live in their own plugin module (``fixtures_<area>.py`` beside this file) so that
areas do not step on each other: the local hub, training runs, cards.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["fixtures_hub", "fixtures_runs", "fixtures_reliability", "fixtures_mmpretrain"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-goldens",
        action="store_true",
        default=False,
        help="Rewrite golden files (tests/golden/) from the current output instead of comparing.",
    )


# Variables that point at the user's caches and config -> the folder each gets in a private home.
_ISOLATED = {"HF_HOME": "hf", "HUBKIT_HOME": "hubkit", "XDG_CACHE_HOME": "cache", "MPLCONFIGDIR": "mpl"}
_SESSION_HOME = pytest.StashKey["Path"]()


def pytest_configure(config: pytest.Config) -> None:
    """Module- and session-scoped fixtures run before the per-test isolation below: give them (and
    everything else in this process) a private home too, never the user's caches."""
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="hubkit-tests-"))
    config.stash[_SESSION_HOME] = home
    for name, sub in _ISOLATED.items():
        os.environ[name] = str(home / sub)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the private home: every run left its module-scoped hubs and caches (~300 MB) in /tmp."""
    import shutil

    home = config.stash.get(_SESSION_HOME, None)
    if home is not None:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the user's HF cache, token, hubkit data or matplotlib config."""
    home = tmp_path_factory.mktemp("home")
    for name, sub in _ISOLATED.items():
        monkeypatch.setenv(name, str(home / sub))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUBKIT_HUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("HUBKIT_FORCE_GPU_TESTS") or _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; none is available on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
