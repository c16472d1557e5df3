"""The CLI shell: help, version, error mapping."""

from __future__ import annotations

from click.testing import CliRunner

from hubkit import __version__
from hubkit.cli import COMMANDS, cli
from hubkit.errors import CheckpointError, HubkitError, TagError, UnsafeCheckpointError, exit_code_for


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"hubkit, version {__version__}"


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output


def test_exit_codes_follow_the_error_tree() -> None:
    assert exit_code_for(TagError("x")) == 2
    assert exit_code_for(CheckpointError("x")) == 3
    assert exit_code_for(UnsafeCheckpointError("x")) == 4
    assert exit_code_for(HubkitError("x")) == 1
    assert exit_code_for(RuntimeError("x")) == 1


def test_error_message_carries_hint() -> None:
    err = TagError("empty tag", hint="pass a tag like resnet50.a1_in1k")
    assert str(err) == "empty tag\n  hint: pass a tag like resnet50.a1_in1k"
    assert isinstance(err, ValueError)
