"""``hubkit hub serve`` and the child-process hub: start, answer, persist, never print the token."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from huggingface_hub import HfApi

from hubkit.cli import cli
from hubkit.hub import LocalHubProcess, default_data_dir


def test_default_data_dir_honours_hubkit_home_and_xdg(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HUBKIT_HOME", str(tmp_path / "hk"))
    assert default_data_dir() == tmp_path / "hk" / "hub"
    monkeypatch.delenv("HUBKIT_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "hubkit" / "hub"


def test_hub_serve_help_lists_options() -> None:
    result = CliRunner().invoke(cli, ["hub", "serve", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--data", "--token", "--faults"):
        assert option in result.output


def test_bad_fault_spec_is_an_input_error() -> None:
    result = CliRunner().invoke(cli, ["hub", "serve", "--faults", "rate=7", "--port", "0"])
    assert result.exit_code != 0


def test_hub_process_serves_persists_and_hides_token(tmp_path: Path) -> None:
    token = "hubkit-secret-token-987"
    data = tmp_path / "data"
    with LocalHubProcess(data, token=token) as hub:
        assert hub.endpoint.startswith("http://127.0.0.1:")
        api = HfApi(endpoint=hub.endpoint, token=token)
        api.create_repo("localuser/cli")
        sha = api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id="localuser/cli").oid
        hub.kill()  # SIGKILL: no graceful shutdown
    with LocalHubProcess(data, token=token) as hub:
        assert HfApi(endpoint=hub.endpoint, token=token).model_info("localuser/cli").sha == sha
    assert "serving at http://127.0.0.1:" in "".join(hub.output)
    assert token not in "".join(hub.output)
