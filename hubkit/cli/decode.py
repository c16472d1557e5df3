"""``hubkit decode``: explain a timm tag or an OpenCLIP pair (thin: parse, call hubkit.tags, print)."""

from __future__ import annotations

import click

from hubkit.cli.options import json_option
from hubkit.errors import TagError


@click.command(name="decode")
@click.argument("tag")
@click.argument("pretrained", required=False)
@json_option("the full structure")
@click.option(
    "--enrich", is_flag=True, help="Add facts from the installed timm / OpenCLIP registry (imports torch)."
)
@click.option("--allow-unknown", is_flag=True, help="Exit 0 even when some tokens are unknown.")
def command(tag: str, pretrained: str | None, as_json: bool, enrich: bool, allow_unknown: bool) -> None:
    """Explain TAG: a timm name (resnet50.a1_in1k) or an OpenCLIP pair (ViT-B-32/laion2b_s34b_b79k, or
    ViT-B-32 laion2b_s34b_b79k).

    Unknown tokens are listed, never guessed; the partial decode is still printed, and the exit code is
    2 unless --allow-unknown is given.
    """
    from hubkit.tags import decode
    from hubkit.tags.summary import summary, to_json

    decoded = decode(tag, pretrained)
    if enrich:
        from hubkit.tags.enrichment import enrich as enrich_tag

        decoded = enrich_tag(decoded)
    click.echo(to_json(decoded) if as_json else summary(decoded))
    if not decoded.fully_decoded and not allow_unknown:
        what = [f"unknown tokens: {', '.join(decoded.unknown_tokens)}"] if decoded.unknown_tokens else []
        if decoded.architecture.family.value == "unknown":
            what.append(f"unknown architecture family: {decoded.architecture.name}")
        raise TagError(
            f"{decoded.raw!r} decoded only partially ({'; '.join(what)})",
            hint="check the spelling against timm.list_pretrained() / open_clip.list_pretrained(); "
            "pass --allow-unknown to accept a partial decode",
        )
