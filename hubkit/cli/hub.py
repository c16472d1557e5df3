"""``hubkit hub serve``: run hubkit's Hub-compatible local server in the foreground."""

from __future__ import annotations

from pathlib import Path

import click

from hubkit.secrets import register_token


@click.group(name="hub")
def command() -> None:
    """hubkit's Hub-compatible local server (for air-gapped staging, publishing and tests)."""


@command.command(name="serve")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Interface to bind (loopback by default)."
)
@click.option(
    "--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port."
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Data directory [default: $HUBKIT_HOME/hub or ~/.cache/hubkit/hub].",
)
@click.option(
    "--token",
    envvar="HUBKIT_HUB_TOKEN",
    default=None,
    help="Require this bearer token for writes (or set HUBKIT_HUB_TOKEN). Never printed.",
)
@click.option("--faults", default=None, help="Fault injection, e.g. 'rate=0.2,seed=7,kinds=500+drop'.")
@click.option(
    "--xet/--no-xet",
    default=True,
    help="Serve the Xet CAS and send large files through it, as the Hub does [default: on].",
)
@click.option(
    "--users",
    "users_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Users, orgs and hashed tokens (YAML) [default: users.yaml in the data dir, else one user].",
)
def serve(
    host: str,
    port: int,
    data_dir: Path | None,
    token: str | None,
    faults: str | None,
    xet: bool,
    users_file: Path | None,
) -> None:
    """Serve the local hub until interrupted; prints its endpoint (e.g. http://127.0.0.1:8765)."""
    from hubkit.hub.serve import default_data_dir, serve_forever

    register_token(token)
    if faults:
        from hubkit.hub.faults import FaultSpec

        FaultSpec.parse(faults)  # bad specs fail here with an InputError, before binding
    serve_forever(
        data_dir or default_data_dir(),
        host=host,
        port=port,
        token=token,
        faults=faults,
        xet=xet,
        users=users_file,
    )
