"""``hubkit card TAG``: render a Hub-ready README.md for a timm tag or an OpenCLIP pair, offline."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import click

from hubkit.cli.options import json_option, template_dir_option
from hubkit.errors import RepoIdError

# A git ref name hubkit accepts for --revision: no spaces, no "..", no control or special characters.
_REVISION = re.compile(r"^(?!.*\.\.)(?!/)(?!.*//)[A-Za-z0-9._/-]{1,200}(?<![./])$")


def _check_repo_id(repo_id: str | None) -> None:
    if repo_id is None:
        return
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise RepoIdError(
            f"invalid --repo-id {repo_id!r}: {exc}", hint="use ORG/NAME, e.g. my-org/resnet50-pets"
        ) from None
    if "/" not in repo_id:
        raise RepoIdError(
            f"--repo-id {repo_id!r} has no owner", hint="use ORG/NAME, e.g. my-org/resnet50-pets"
        )


def _check_revision(revision: str | None) -> None:
    if revision is not None and not _REVISION.match(revision):
        raise RepoIdError(
            f"invalid --revision {revision!r}",
            hint="use a branch, tag or commit name made of letters, digits, '.', '_', '-' and '/'",
        )


@click.command(name="card")
@click.argument("tag")
@click.argument("pretrained", required=False)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write the card here (default: print it)."
)
@click.option("--repo-id", help="Hub repo the card is for (ORG/NAME); usage code loads from it.")
@click.option("--revision", help="Revision the card is for; usage code pins it.")
@template_dir_option
@json_option("the card context (instead of the card)")
@click.option("--no-stats", is_flag=True, help="Skip computing params / GMACs / activations.")
def command(
    tag: str,
    pretrained: str | None,
    output: str | None,
    repo_id: str | None,
    revision: str | None,
    template_dir: Path | None,
    as_json: bool,
    no_stats: bool,
) -> None:
    """Render a model card for TAG (a timm tag) or an OpenCLIP pair.

    An OpenCLIP pair is MODEL/PRETRAINED or MODEL PRETRAINED. Nothing is downloaded: the card uses the
    decoded tag, the installed timm / OpenCLIP registry and statistics computed without weights.

    \b
    Examples:
      hubkit card resnet50.a1_in1k -o README.md
      hubkit card ViT-B-32 laion2b_s34b_b79k --repo-id my-org/clip-b32
    """
    from hubkit.cards import context_from_tag, render_card, write_card
    from hubkit.secrets import redact
    from hubkit.tags import decode

    _check_repo_id(repo_id)
    _check_revision(revision)
    decoded = decode(tag, pretrained) if pretrained else decode(tag)
    context = context_from_tag(decoded, repo_id=repo_id, revision=revision, compute_stats=not no_stats)
    if as_json:
        click.echo(redact(json.dumps(dataclasses.asdict(context), indent=2, ensure_ascii=False)))
        return
    if output:
        path = write_card(context, output, template_dir=template_dir)
        click.echo(f"Wrote {path}", err=True)
        return
    click.echo(render_card(context, template_dir=template_dir), nl=False)
