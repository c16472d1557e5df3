"""``hubkit recipe``: the reference training recipe of a tag, as a config to run (thin: parse, call, print)."""

from __future__ import annotations

import click

from hubkit.cli.options import json_option


@click.command(name="recipe")
@click.argument("tag", required=False)
@click.argument("pretrained", required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["yaml", "args"]),
    default="yaml",
    show_default=True,
    help="yaml: a config for timm's train.py --config, each line with its source; args: a command line.",
)
@click.option("--batch-size", type=int, help="Batch size per process; the lr is scaled by the source's rule.")
@click.option("--gpus", type=int, help="Number of processes (GPUs) the batch is split over.")
@click.option(
    "--diff",
    "run_dir",
    type=click.Path(exists=True, file_okay=False),
    help="A run dir: print where its recorded hyperparameters differ from the recipe.",
)
@click.option("--list", "list_all", is_flag=True, help="List the recipes hubkit has numbers for.")
@json_option("the recipe (arguments with their sources, facts, unknowns, scaling, results)")
def command(
    tag: str | None,
    pretrained: str | None,
    fmt: str,
    batch_size: int | None,
    gpus: int | None,
    run_dir: str | None,
    list_all: bool,
    as_json: bool,
) -> None:
    """Print the reference recipe of TAG (resnet50.a1_in1k, or an OpenCLIP pair) with every value's source.

    Values no source gives are listed at the end as unknown, never filled in. With --batch-size / --gpus
    the learning rate follows the rule the source gives (linear, square root, or gradient accumulation),
    and the output says it scaled.
    """
    from hubkit.errors import InputError
    from hubkit.recipes import recipe_for, recipe_keys, render_args, render_yaml, results_for, scale

    if list_all:
        click.echo("\n".join(recipe_keys()))
        return
    if tag is None:
        raise InputError("no tag given", hint="run `hubkit recipe resnet50.a1_in1k`, or `--list`")
    recipe = recipe_for(tag, pretrained)
    if run_dir is not None:
        from hubkit.recipes import diff_hyperparams, render_table
        from hubkit.runs import read_run

        run = read_run(run_dir)
        click.echo(render_table(diff_hyperparams(run.hyperparams, recipe), recipe), nl=False)
        return
    scaled = scale(recipe, batch_size=batch_size, gpus=gpus)
    if as_json:
        import dataclasses
        import json

        data = dataclasses.asdict(recipe)
        data["args"] = {name: dataclasses.asdict(item) for name, item in scaled.args.items()}
        data["scaled"] = {
            "gpus": scaled.gpus,
            "global_batch": scaled.global_batch,
            "notes": list(scaled.notes),
        }
        data["results"] = [dataclasses.asdict(r) for r in results_for(recipe.tag)]
        click.echo(json.dumps(data, indent=1, default=str))
        return
    if fmt == "args":
        click.echo(render_args(recipe, scaled), nl=False)
        return
    click.echo(render_yaml(recipe, scaled, results_for(recipe.tag)), nl=False)
