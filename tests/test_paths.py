"""One set of folders: HUBKIT_HOME and the XDG cache honoured by every cache, and dry runs write none."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from hubkit import paths
from hubkit.cards import stats
from hubkit.hub.serve import default_data_dir
from hubkit.publish import cache


def test_hubkit_home_roots_every_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HUBKIT_HOME", str(tmp_path / "hk"))
    assert default_data_dir() == tmp_path / "hk" / "hub"
    assert cache.cache_dir() == tmp_path / "hk" / "publish"
    assert stats._cache_file() == tmp_path / "hk" / "model-stats.json"


def test_without_hubkit_home_the_xdg_cache_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HUBKIT_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.home() == tmp_path / "xdg" / "hubkit"
    assert cache.cache_dir() == tmp_path / "xdg" / "hubkit" / "publish"
    assert default_data_dir() == tmp_path / "xdg" / "hubkit" / "hub"


def test_no_cache_writes_blocks_writes_in_its_block_only() -> None:
    cache.write_json("k1", "plan", {"a": 1})
    with paths.no_cache_writes():
        cache.write_json("k2", "plan", {"a": 2})
        assert cache.read_json("k1", "plan") == {"a": 1}  # reads still work
        seen: list[bool] = []
        other = threading.Thread(target=lambda: seen.append(paths.cache_writes_enabled()))
        other.start()
        other.join()
    assert cache.read_json("k2", "plan") is None
    assert seen == [True], "another thread's writes are not turned off"
    assert paths.cache_writes_enabled()


def test_dry_run_leaves_environment_and_caches_alone(timm_run_dir: Path, hub) -> None:  # type: ignore[no-untyped-def]
    from hubkit.publish.endpoint import open_target
    from hubkit.publish.options import PublishOptions
    from hubkit.publish.publisher import publish

    before_env = dict(os.environ)
    home = paths.home()
    before = sorted(p for p in home.rglob("*")) if home.exists() else []
    with open_target(hub.endpoint, hub.token) as target:
        report = publish(timm_run_dir, PublishOptions(repo_id="localuser/dry", dry_run=True), target)
    assert report.dry_run and all(r.status == "planned" for r in report.revisions)
    assert dict(os.environ) == before_env
    after = sorted(p for p in home.rglob("*")) if home.exists() else []
    assert after == before, "a dry run wrote into hubkit's folders"
