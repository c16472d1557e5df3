"""What ``hubkit publish`` can be told, and the one place where all of it is checked.

:func:`validate` runs before anything else of a publish (before the first call to the Hub, even a read),
so that a bad option can never leave a half-made release behind: the README promises that bad input makes
no remote change. Checks that need the run (a ``{step}`` field without recorded steps, an ``epochs:`` spec
naming an epoch without a checkpoint) follow when the run is read, which is still before any remote call.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, get_args

from hubkit.errors import InputError, TemplateError

MainMode = Literal["last", "best", "none"]
WeightsChoice = Literal["ema", "raw"]
FrozenCheck = Literal["warn", "strict", "off"]
DEFAULT_BRANCH_FORMAT = "epoch-{epoch:03d}"


@dataclass(frozen=True)
class PublishOptions:
    """Everything ``hubkit publish`` can be told (the CLI options, minus endpoint and token)."""

    # --- where
    repo_id: str | None = None  # "org/name"; None: derived from the run ("local/<run-name>") on the local hub
    private: bool = False  # create the repo as private
    # --- what
    select: tuple[str, ...] = ()  # ("key:6",); several specs are united
    weights: str | None = None  # "ema" | "raw" | None (the run's default)
    model_config: Path | None = None  # Path("ViT-tiny.json"): OpenCLIP model config JSON
    # --- how it is named and described
    branch_format: str = DEFAULT_BRANCH_FORMAT  # "epoch-{epoch:03d}"
    main: MainMode = "last"  # "last" | "best" | "none"
    tag: str | None = None  # "v1"
    template_dir: Path | None = None  # Path("my-templates"): user template overrides
    license: str | None = None  # "apache-2.0" (a Hub license id); None: the cards say none was given
    reference: str | None = None  # "resnet50.a1_in1k": the main card compares the run with this recipe
    # --- checks
    verify: bool = True  # download, reload and evaluate each revision before its branch appears
    eval_data: Path | None = None  # verification data (default: the run's validation data)
    device: str | None = None  # verification device ("auto", "cpu", "cuda", "cuda:1")
    frozen_check: FrozenCheck = "warn"  # a lock the weights contradict: "warn", "strict" (stop), "off"
    dynamics: bool = True  # main's "Training dynamics" section and each hubkit.json's figures
    # --- mode
    dry_run: bool = False  # print the plan, write nothing
    force: bool = False  # replace remote revisions whose weights differ
    create_pr: bool = False  # propose the whole release as one pull request; `hubkit pr merge` lands it


def validate(options: PublishOptions) -> PublishOptions:
    """Check every option that can be checked without the run; return them normalised.

    Raises:
        InputError: a bad repo id, select spec, weights kind, main mode, branch format, tag, license,
            device, reference tag, or a missing eval data / model config path (each message names the option).
        TemplateError: the template dir is missing or one of its templates does not parse.

    Example:
        >>> validate(PublishOptions(device="CPU")).device
        'cpu'
    """
    from hubkit.cards.licenses import validate_license
    from hubkit.publish.naming import BranchFields, branch_name, validate_branch, validate_repo_id
    from hubkit.runs.select import parse_select_spec
    from hubkit.verify.device import check_device_spec

    if options.repo_id is not None:
        validate_repo_id(options.repo_id)
    if options.create_pr and options.private:
        raise InputError(
            "--create-pr proposes a release to an existing repo; --private would create one",
            hint="drop --private (a pull request keeps the repo's visibility)",
        )
    for spec in options.select:
        parse_select_spec(spec)
    _one_of("--weights", options.weights, get_args(WeightsChoice), optional=True)
    _one_of("--main", options.main, get_args(MainMode))
    _one_of("--frozen-check", options.frozen_check, get_args(FrozenCheck))
    # Unknown fields and bad format specs show with sample values; {step} is checked against the run later.
    branch_name(options.branch_format, BranchFields(epoch=0, epochs=1, step=0, run="run"))
    if options.tag is not None:
        validate_branch(options.tag)
    license_id = validate_license(options.license)
    device = check_device_spec(options.device, available=options.verify) if options.device else None
    _exists("--eval-data", options.eval_data)
    _exists("--model-config", options.model_config, file=True)
    if options.template_dir is not None:
        check_templates(options.template_dir)
    if options.reference is not None:  # an unknown tag or a tag without a recipe stops here
        from hubkit.recipes import recipe_for

        recipe_for(options.reference)
    return replace(options, license=license_id, device=device)


def _one_of(option: str, value: str | None, allowed: tuple[str, ...], *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if value not in allowed:
        raise InputError(
            f"{option} {value!r} is not one of {', '.join(allowed)}", hint=f"pass {option} {allowed[0]}"
        )


def _exists(option: str, path: Path | None, *, file: bool = False) -> None:
    if path is None:
        return
    if not path.exists() or (file and not path.is_file()):
        what = "file" if file else "path"
        raise InputError(f"{option} {path}: no such {what}", hint=f"check the path given to {option}")


def check_templates(template_dir: Path) -> None:
    """Parse every template in ``template_dir`` (a syntax error names its file and line).

    Example:
        >>> check_templates(Path("my-templates"))  # doctest: +SKIP
    """
    import jinja2

    from hubkit.cards.render import environment

    env = environment(template_dir)  # a missing dir raises TemplateError
    for path in sorted(p for p in template_dir.rglob("*.j2") if p.is_file()):
        name = path.relative_to(template_dir).as_posix()
        try:
            env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(
                f"{exc.filename or name}:{exc.lineno}: template syntax error: {exc.message}",
                hint="fix the template at that line (Jinja2 syntax: https://jinja.palletsprojects.com/)",
            ) from None
