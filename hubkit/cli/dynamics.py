"""``hubkit dynamics``: how each layer group moved across checkpoints (thin: parse, call, print)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

from hubkit.cli.options import endpoint_option, json_option, token_option
from hubkit.errors import InputError, VerificationError
from hubkit.secrets import redact, register_token


@click.command(name="dynamics")
@click.argument("target")
@click.option("--select", default="all", show_default=True, help="Run dir: checkpoints to compare.")
@click.option("--revision", "revisions", multiple=True, metavar="R", help="Repo: revision (repeatable).")
@click.option(
    "--weights", type=click.Choice(["raw", "ema"]), default=None, help="Run dir: default as published."
)
@click.option("--fine", is_flag=True, help="timm: one group per block instead of per stage.")
@click.option(
    "--model-config",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="OpenCLIP model config JSON (when the model is not in OpenCLIP's registry).",
)
@endpoint_option
@token_option
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write the picture (PNG)."
)
@json_option("the full report")
def command(
    target: str,
    select: str,
    revisions: tuple[str, ...],
    weights: str | None,
    fine: bool,
    model_config: str | None,
    endpoint: str | None,
    token: str | None,
    output: str | None,
    as_json: bool,
) -> None:
    """Per layer-group change across the checkpoints of TARGET (a run dir, or ORG/NAME on the Hub).

    Groups come from the framework (timm group_matcher, OpenCLIP lock() groups); frozen groups are checked
    against the run's lock settings. Exits 7 when a group the run claims frozen changed, or its BatchNorm
    statistics moved.
    """
    from hubkit.dynamics import analyse_repo, analyse_run

    if output is not None and not output.lower().endswith(".png"):
        raise InputError(f"--output {output} must name a .png file", hint="e.g. -o dynamics.png")
    if Path(target).is_dir():
        if revisions:
            raise InputError("--revision applies to a published repo, not a run dir", hint="use --select")
        report = analyse_run(target, select=select, weights=weights, fine=fine, model_config=model_config)
    else:
        from hubkit.publish.endpoint import open_target
        from hubkit.publish.naming import validate_repo_id

        validate_repo_id(target)
        register_token(token)
        with open_target(endpoint, token) as hub, tempfile.TemporaryDirectory(prefix="hubkit-dyn-") as tmp:
            report = analyse_repo(
                target, revisions, endpoint=hub.endpoint, token=hub.token, cache_dir=Path(tmp), fine=fine
            )
    if output is not None:
        from hubkit.dynamics.plot import render_dynamics

        Path(output).write_bytes(render_dynamics(report))
    if as_json:
        click.echo(redact(json.dumps(report.to_json(), indent=2, ensure_ascii=False)))
    else:
        from rich.console import Console

        from hubkit.dynamics.render import summary_lines, table

        console = Console(soft_wrap=False)
        console.print(table(report, width=console.width))
        for line in summary_lines(report):
            click.echo(redact(line))
        if output is not None:
            click.echo(f"picture: {output}")
    if not report.passed:
        failed = [f.group for f in report.findings if f.failed]
        raise VerificationError(
            f"frozen-group check failed for {', '.join(failed)}",
            hint="the run's lock settings do not match how its weights moved; see the mismatches above",
        )
