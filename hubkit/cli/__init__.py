"""The ``hubkit`` command line: a thin layer over the library.

Each subcommand lives in its own module (``hubkit/cli/<name>.py``, exposing a click object named
``command``) and is imported only when it runs, so ``hubkit --help`` and ``hubkit decode`` never pay for
torch. Known errors are turned into a message and an exit code here, in one place; the traceback shows
only with ``--debug`` (or ``HUBKIT_DEBUG=1``), and every line that leaves goes through token redaction.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from typing import Any

import click

from hubkit import __version__
from hubkit.errors import HubkitError, exit_code_for
from hubkit.secrets import install_log_redaction, redact, register_env_tokens

# name -> (module, one-line help). The order is the order shown in --help.
COMMANDS: dict[str, tuple[str, str]] = {
    "decode": ("hubkit.cli.decode", "Explain a timm tag or OpenCLIP pair as structured metadata."),
    "card": ("hubkit.cli.card", "Render a Hub model card for a timm tag or OpenCLIP pair."),
    "recipe": ("hubkit.cli.recipe", "Print a tag's reference training recipe, each value with its source."),
    "publish": ("hubkit.cli.publish", "Publish key checkpoints of a training run as Hub revisions."),
    "pr": ("hubkit.cli.pr", "Merge a release proposed as a pull request (publish --create-pr)."),
    "verify": ("hubkit.cli.verify", "Download, reload and quick-evaluate published revisions."),
    "dynamics": (
        "hubkit.cli.dynamics",
        "Show how each layer group moved across checkpoints; check frozen ones.",
    ),
    "hub": ("hubkit.cli.hub", "Run hubkit's Hub-compatible local server."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(COMMANDS[cmd_name][0])
        command: click.Command = module.command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Use the short help from the table so that --help imports nothing heavy.
        rows = [(name, help_) for name, (_, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hubkit")
@click.option("--debug", is_flag=True, envvar="HUBKIT_DEBUG", help="Show tracebacks (tokens still redacted).")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """hubkit: release timm and OpenCLIP training runs as documented, verified Hub revisions.

    With no --endpoint and no token, commands that talk to a Hub use hubkit's embedded local hub.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point: run the CLI and map hubkit errors to messages and exit codes."""
    register_env_tokens()
    install_log_redaction()
    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or bool(os.environ.get("HUBKIT_DEBUG"))
    try:
        return cli.main(args=argv, prog_name="hubkit", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except HubkitError as exc:
        if debug:
            click.echo(redact(traceback.format_exc()), err=True)
        click.echo(redact(f"Error: {exc}"), err=True)
        sys.exit(exit_code_for(exc))
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:  # an unexpected failure: still never leak a token
        if debug:
            click.echo(redact(traceback.format_exc()), err=True)
        click.echo(redact(f"Error: unexpected {type(exc).__name__}: {exc}"), err=True)
        click.echo("  hint: re-run with --debug for the traceback, and report it if it persists.", err=True)
        sys.exit(1)
