"""``hubkit publish RUN_DIR``: key checkpoints of a training run as Hub revisions, the final one on main."""

from __future__ import annotations

from pathlib import Path

import click

from hubkit.cli.options import device_option, endpoint_option, json_option, template_dir_option, token_option
from hubkit.publish.naming import DEFAULT_BRANCH_FORMAT
from hubkit.secrets import redact, register_token


@click.command(name="publish")
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--repo", "repo_id", metavar="ORG/NAME", help="Target repo (default on the local hub: local/<run-name>)."
)
@endpoint_option
@token_option
@click.option(
    "--select",
    "select",
    multiple=True,
    metavar="SPEC",
    help="Checkpoints to publish (key:6, all, "
    "last, best, every:K, uniform:K, log:K, epochs:A,B); repeat to unite.",
)
@click.option(
    "--weights", type=click.Choice(["ema", "raw"]), help="Weights to publish (default: EMA when kept)."
)
@click.option(
    "--branch-format",
    default=DEFAULT_BRANCH_FORMAT,
    show_default=True,
    help="Branch name per checkpoint; fields {epoch} {epochs} {step} {run}.",
)
@click.option(
    "--main",
    "main",
    type=click.Choice(["last", "best", "none"]),
    default="last",
    show_default=True,
    help="Checkpoint that main holds, with the run card.",
)
@click.option("--tag", metavar="NAME", help="Tag the main commit.")
@click.option(
    "--license",
    "license_id",
    metavar="ID",
    help="License of the weights, a Hub license id (apache-2.0, mit, cc-by-4.0, other, ...); "
    "default: none, and the card says so.",
)
@click.option("--private", is_flag=True, help="Create the repo as private.")
@template_dir_option
@click.option(
    "--verify/--no-verify",
    default=True,
    show_default=True,
    help="Download, reload and quick-evaluate each revision before its branch appears.",
)
@click.option(
    "--eval-data",
    type=click.Path(path_type=Path, exists=True),
    help="Verification data (default: the run's).",
)
@device_option
@click.option(
    "--model-config",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="OpenCLIP model config JSON (when the model is not in OpenCLIP's registry).",
)
@click.option(
    "--frozen-check",
    type=click.Choice(["warn", "strict", "off"]),
    default="warn",
    show_default=True,
    help="A group the run's lock settings freeze but whose weights moved: warn, or stop (strict).",
)
@click.option(
    "--dynamics/--no-dynamics",
    default=True,
    show_default=True,
    help="Analyse how the weights moved between revisions (main's card, hubkit.json); reads them again.",
)
@click.option(
    "--reference",
    metavar="TAG",
    help="A pretrained tag (resnet50.a1_in1k): the main card lists where the run's hyperparameters differ "
    "from its recipe (see `hubkit recipe TAG`).",
)
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing, locally or remotely.")
@json_option("one report")
@click.option("--force", is_flag=True, help="Replace remote revisions that hold different weights.")
@click.option(
    "--create-pr",
    is_flag=True,
    help="Propose the whole release as one pull request on an existing repo (for who cannot push to it); "
    "main, the branches and the tag move when an owner runs `hubkit pr merge`.",
)
def command(
    run_dir: Path,
    repo_id: str | None,
    endpoint: str | None,
    token: str | None,
    select: tuple[str, ...],
    weights: str | None,
    branch_format: str,
    main: str,
    tag: str | None,
    license_id: str | None,
    private: bool,
    template_dir: Path | None,
    verify: bool,
    eval_data: Path | None,
    device: str | None,
    model_config: Path | None,
    frozen_check: str,
    dynamics: bool,
    reference: str | None,
    dry_run: bool,
    as_json: bool,
    force: bool,
    create_pr: bool,
) -> None:
    """Publish the key checkpoints of RUN_DIR: one branch per checkpoint, the final one on main.

    Each branch appears in one piece, only after its commit has been verified; main and --tag follow once
    every branch is in place. Re-running publishes only what is missing.
    """
    from hubkit.publish import summary
    from hubkit.publish.endpoint import open_target
    from hubkit.publish.options import PublishOptions
    from hubkit.publish.progress import Progress, wants_bars
    from hubkit.publish.publisher import publish

    register_token(token)
    _quiet_hf()
    _skip_final_collection()
    options = PublishOptions(
        repo_id=repo_id,
        select=select,
        weights=weights,
        branch_format=branch_format,
        main=main,  # type: ignore[arg-type]
        tag=tag,
        private=private,
        template_dir=template_dir,
        verify=verify,
        eval_data=eval_data,
        device=device,
        model_config=model_config,
        frozen_check=frozen_check,  # type: ignore[arg-type]
        dynamics=dynamics,
        dry_run=dry_run,
        force=force,
        create_pr=create_pr,
        license=license_id,
        reference=reference,
    )
    progress = Progress(show=wants_bars(as_json))
    with open_target(endpoint, token) as target:
        report = publish(run_dir, options, target, progress)
    if as_json:
        click.echo(redact(report.dumps()))
    else:
        click.echo(redact(summary.render(report, embedded=target.embedded)))


def _skip_final_collection() -> None:
    """Freeze all objects at interpreter exit, so its final garbage collection skips them.

    A publish loads torch, timm and matplotlib: their millions of objects made that last collection take
    1.1 s of the process's exit (2-core VM). Module teardown and every exit handler still run.
    """
    import atexit
    import gc

    atexit.unregister(gc.freeze)  # once per process, however often the command runs (tests)
    atexit.register(gc.freeze)


def _quiet_hf() -> None:
    """huggingface_hub's own bars would interleave with ours (and must never reach --json output)."""
    from huggingface_hub.utils import disable_progress_bars, logging

    disable_progress_bars()
    logging.set_verbosity_error()
