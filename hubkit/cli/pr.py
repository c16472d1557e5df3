"""``hubkit pr merge ORG/NAME N``: land a release proposed with ``hubkit publish --create-pr`` (thin)."""

from __future__ import annotations

import json

import click

from hubkit.cli.options import endpoint_option, json_option, token_option
from hubkit.secrets import redact, register_token


@click.group(name="pr")
def command() -> None:
    """Pull requests that carry a hubkit release (made with `hubkit publish --create-pr`)."""


@command.command(name="merge")
@click.argument("repo_id", metavar="ORG/NAME")
@click.argument("num", type=click.IntRange(min=1), metavar="N")
@endpoint_option
@token_option
@click.option("--force", is_flag=True, help="Replace branches or the tag that moved since the pull request.")
@json_option("what was merged and created")
def merge(
    repo_id: str, num: int, endpoint: str | None, token: str | None, force: bool, as_json: bool
) -> None:
    """Merge pull request N of ORG/NAME (main moves), then create its revision branches and tag.

    Everything is checked before the merge: the pull request still holds what its release manifest says,
    and no branch or tag it sets moved since. A re-run finishes what an interrupted one left.
    """
    from hubkit.hub.client import hub_api
    from hubkit.publish.endpoint import open_target
    from hubkit.publish.naming import validate_repo_id
    from hubkit.publish.prmerge import merge_release
    from hubkit.publish.remote import Remote

    validate_repo_id(repo_id)
    register_token(token)
    with open_target(endpoint, token) as target:
        remote = Remote(hub_api(target.endpoint, target.token), repo_id)
        report = merge_release(remote, num, force=force)
    if as_json:
        click.echo(redact(json.dumps(report.to_json())))
        return
    verb = "was merged already" if report.already_merged else "merged"
    click.echo(f"Pull request #{num} of {repo_id} {verb}: main is at {report.merge_commit[:7]}")
    for name, commit in report.branches.items():
        mark = "created" if name in report.created else "in place"
        click.echo(f"  {name:<16} {commit[:7]}  {mark}")
    if report.tag:
        mark = "created" if f"tag {report.tag}" in report.created else "in place"
        click.echo(f"  tag {report.tag:<12} {report.merge_commit[:7]}  {mark}")
