"""``hubkit verify``: download, reload and quick-evaluate published revisions (thin: parse, call, print)."""

from __future__ import annotations

import json

import click

from hubkit.cli.options import device_option, endpoint_option, json_option, token_option
from hubkit.errors import InputError, VerificationError
from hubkit.secrets import redact, register_token


@click.command(name="verify")
@click.argument("repo_id")
@click.option("--revision", "revisions", multiple=True, metavar="R", help="Revision to verify (repeatable).")
@click.option(
    "--all", "all_revisions", is_flag=True, help="Verify every branch and tag (not staging branches)."
)
@endpoint_option
@token_option
@click.option(
    "--eval-data", type=click.Path(exists=True), default=None, help="Image folder or image/caption CSV."
)
@click.option(
    "--run", "run_dir", type=click.Path(exists=True, file_okay=False), default=None, help="Source run dir."
)
@device_option
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=None, help="Default 64 (OpenCLIP CSV: run's)."
)
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="Evaluate N samples (metrics not checked)."
)
@click.option(
    "--tolerance", type=click.FloatRange(min=0), default=0.5, show_default=True, help="Percent points."
)
@click.option(
    "--workers", type=click.IntRange(0, 2), default=2, show_default=True, help="DataLoader workers."
)
@click.option("--record", is_flag=True, help="Commit verification.json onto each passing branch revision.")
@json_option("the results (one object per revision)")
def command(
    repo_id: str,
    revisions: tuple[str, ...],
    all_revisions: bool,
    endpoint: str | None,
    token: str | None,
    eval_data: str | None,
    run_dir: str | None,
    device: str | None,
    batch_size: int | None,
    limit: int | None,
    tolerance: float,
    workers: int,
    record: bool,
    as_json: bool,
) -> None:
    """Verify published revisions of REPO_ID (ORG/NAME): fresh download, reload, integrity, quick-eval.

    Without --revision or --all, verifies main. Exits 7 when any revision fails (all are reported first).
    Timings make verification.json differ between runs; they sit under its "timings" key.
    """
    from hubkit.publish.endpoint import open_target
    from hubkit.publish.naming import STAGING_PREFIX, validate_repo_id
    from hubkit.verify import report
    from hubkit.verify.device import check_device_spec
    from hubkit.verify.verifier import VerifyOptions, list_revisions, verify_revisions

    validate_repo_id(repo_id)
    if revisions and all_revisions:
        raise InputError("--revision and --all exclude each other", hint="pass one of them")
    if record and limit is not None:
        raise InputError(
            "--record cannot be combined with --limit: a subset evaluation is not checked against the run",
            hint="drop --limit to record verification.json",
        )
    device = check_device_spec(device, available=True)
    register_token(token)
    options = VerifyOptions(
        eval_data=eval_data,
        device=device,
        batch_size=batch_size,
        limit=limit,
        tolerance=tolerance,
        workers=workers,
    )
    with open_target(endpoint, token) as target:
        if all_revisions:
            names = list_revisions(repo_id, endpoint=target.endpoint, token=target.token)
            selected = [n for n in names if not n.startswith(STAGING_PREFIX)]
        else:
            selected = list(revisions) or ["main"]
        results = verify_revisions(
            repo_id, selected, endpoint=target.endpoint, token=target.token, run=run_dir, options=options
        )
        recorded = {}
        if record:
            for result in results:
                if result.passed:
                    recorded[result.revision] = report.record_result(
                        result, endpoint=target.endpoint, token=target.token
                    )

    if as_json:
        click.echo(redact(json.dumps(report.results_json(results), indent=2, sort_keys=True)))
    else:
        for result in results:
            click.echo(report.format_result(result))
            if result.revision in recorded:
                click.echo(f"  recorded: verification.json committed as {recorded[result.revision][:12]}")
        click.echo(report.summary_line(results))
    failed = [r for r in results if not r.passed]
    if failed:
        reasons = "; ".join(f for r in failed for f in r.failures[:2])
        raise VerificationError(
            f"{report.summary_line(results)} ({reasons})",
            hint="nothing was marked verified for those revisions; see the failures above",
        )
