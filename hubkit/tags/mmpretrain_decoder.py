"""Decode MMPreTrain model and config names (``resnet50_8xb256-rsb-a1-600e_in1k``) into a :class:`ModelTag`.

Pure (no torch, no mmpretrain): the vocabulary is ``mmpretrain.yaml`` beside this module (plus the shared
``datasets.yaml`` / ``recipes.yaml``). The grammar is MMPreTrain's naming convention,
``{algorithm}_{module}_{pretrain}_{training}_{data}``: parts joined by ``_``, tokens by ``-``.

- ``{algorithm}`` is the first part when the part after it is a whole backbone (``mae_vit-base-p16_…``).
- ``{module}`` is the backbone: a family (longest key that the part starts with) and its variant tokens.
- Every later token is read against the token table and the numeric patterns (``8xb256``, ``300e``,
  ``384px``). A ``pre`` token ends the pretraining stage: tokens before it describe pretraining, tokens after
  it fine-tuning; when only the data part follows ``pre`` (``vit-base-p14_eva02-pre_in21k``) that data is
  the pretraining data (a pretrained-only release).
- Tokens with no entry are listed in ``unknown_tokens``, never guessed.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from hubkit.errors import TagError
from hubkit.tags.model import Architecture, DatasetStep, Fact, ModelTag, Recipe, TokenReading
from hubkit.tags.vocab import load as load_shared

MAX_LEN = 200
_NAME = re.compile(r"[a-z0-9][a-z0-9.]*(?:-[a-z0-9.]+)*(?:_[a-z0-9.]+(?:-[a-z0-9.]+)*)*")
_ALLOWED = re.compile(r"[A-Za-z0-9_.\-]+")
_BATCH = re.compile(r"\d{1,3}xb\d{1,5}")
_HINT = "pass an MMPreTrain model name like resnet50_8xb32_in1k (see mmpretrain.list_models())"
_CONVENTION = "mmpretrain:convention"


@dataclass(frozen=True)
class Family:
    """A backbone family: names whose backbone part starts with ``key``."""

    key: str  # "resnet"
    family: str  # "ResNet"
    source: str  # "arXiv:1512.03385"
    variant: re.Pattern[str] | None  # family-specific variant tokens ("\d+" depth)
    variant_meaning: str  # "depth"
    inline: bool  # the variant may follow the key without '-' ("resnet50")
    window: bool  # "w7" is a window size (Swin) rather than unknown
    paradigm: str | None  # "vision-language" for multimodal families
    words: dict[str, dict[str, Any]]  # family-specific words ("distilled" for DeiT)


@dataclass(frozen=True)
class NumberRule:
    """A numeric token rule (``8xb256``, ``300e``, ``384px``)."""

    regex: re.Pattern[str]
    field: str  # "gpus_batch" | "epochs" | "resolution" | "patch_size" | "window"
    meaning: str  # "{n} epochs"
    source: str
    last_part_only: bool = False  # bare "384" only in the data part
    backbone_only: bool = False  # "p16" / "w7" only in the backbone part
    window_only: bool = False  # only for families with windows


@dataclass(frozen=True)
class MMVocab:
    """The MMPreTrain vocabulary, precompiled once per process (:func:`load`)."""

    algorithms: dict[str, dict[str, Any]]
    families: dict[str, Family]
    family_lengths: tuple[int, ...]  # distinct key lengths, longest first
    words: dict[str, dict[str, Any]]
    tokens: dict[str, dict[str, Any]]
    phrase_len: dict[str, int]  # first token of a '-' phrase -> its longest phrase length in tokens
    numbers: tuple[NumberRule, ...]
    datasets: dict[str, dict[str, Any]]
    recipes: dict[str, Recipe]


@functools.cache
def load() -> MMVocab:
    """Return the precompiled MMPreTrain vocabulary (parsed once per process).

    Example:
        >>> load().families["resnet"].family
        'ResNet'
    """
    text = resources.files("hubkit.tags").joinpath("mmpretrain.yaml").read_text(encoding="utf-8")
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    shared = load_shared()
    families = {
        key: Family(
            key=key,
            family=e["family"],
            source=e["source"],
            variant=re.compile(e["variant"]) if "variant" in e else None,
            variant_meaning=e.get("variant_meaning", "variant"),
            inline=bool(e.get("inline")),
            window=bool(e.get("window")),
            paradigm=e.get("paradigm"),
            words=e.get("words", {}),
        )
        for key, e in data["families"].items()
    }
    tokens: dict[str, dict[str, Any]] = data["tokens"]
    phrase_len: dict[str, int] = {}
    for key in tokens:
        if "-" in key:
            first = key.split("-", 1)[0]
            phrase_len[first] = max(phrase_len.get(first, 1), key.count("-") + 1)
    return MMVocab(
        algorithms=data["algorithms"],
        families=families,
        family_lengths=tuple(sorted({len(k) for k in families}, reverse=True)),
        words=data["words"],
        tokens=tokens,
        phrase_len=phrase_len,
        numbers=tuple(NumberRule(re.compile(p.pop("regex")), **p) for p in data["patterns"]),
        datasets={**shared.datasets, **data["datasets"]},
        recipes=shared.recipes,
    )


def validate(text: object) -> str:
    """Check that ``text`` is a well-formed MMPreTrain name; return it stripped.

    Raises:
        TagError: not a string, empty, too long, upper case or odd characters, empty parts or tokens.

    Example:
        >>> validate(" resnet18_8xb32_in1k ")
        'resnet18_8xb32_in1k'
    """
    if not isinstance(text, str):
        raise TagError(f"a model name must be a string, got {type(text).__name__}", hint=_HINT)
    name = text.strip()
    # Config file names keep upper case ("repvgg-A0_8xb32_in1k.py"); list_models() lower-cases them.
    if len(name) <= MAX_LEN and _NAME.fullmatch(name.lower()):
        return name
    if not name:
        raise TagError("the model name is empty", hint=_HINT)
    if len(name) > MAX_LEN:
        raise TagError(f"the model name is {len(name)} characters long (at most {MAX_LEN})", hint=_HINT)
    shown = repr(name if len(name) <= 60 else name[:57] + "...")
    bad = next((c for c in name if not _ALLOWED.fullmatch(c)), None)
    if bad is not None:
        raise TagError(
            f"model name {shown} contains {bad!r} (U+{ord(bad):04X}) at position {name.index(bad)}; "
            "MMPreTrain names use only ASCII letters, digits, '_', '-' and '.'",
            hint="retype the name (look-alike unicode characters often come from copy-paste)",
        )
    raise TagError(f"model name {shown} has an empty part or token (around '_', '-' or '.')", hint=_HINT)


def looks_like_mmpretrain(text: str) -> bool:
    """True when ``text`` has the shape of an MMPreTrain name rather than a timm or OpenCLIP one.

    timm names never contain '-', OpenCLIP model names are mixed-case or carry no '_'; an MMPreTrain name
    is lower case with '_' between parts, and either '-' inside a part or a ``8xb32`` / ``3rdparty`` part.

    Example:
        >>> looks_like_mmpretrain("resnet18_8xb32_in1k"), looks_like_mmpretrain("resnet50.a1_in1k")
        (True, False)
    """
    if "_" not in text or "/" in text:
        return False
    if "-" in text and text == text.lower():
        return True
    if "." in text:
        return False
    parts = text.lower().split("_")
    # a config file name keeps upper case ("repvgg-A0_8xb32_in1k"): its GPUs x batch part still says it;
    # else a last part naming MMPreTrain data or a task ("lenet5_mnist", "flamingo_fewshot_caption")
    if any(p == "3rdparty" or _BATCH.fullmatch(p) for p in parts):
        return True
    last = load().tokens.get(parts[-1].split("-")[0]) or {}
    return bool(last.get("dataset") or last.get("task"))


@dataclass
class _Reading:
    """Mutable accumulator while reading one name; frozen into a ModelTag at the end."""

    tokens: list[TokenReading] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)
    details: list[Fact] = field(default_factory=list)
    paradigm: list[Fact] = field(default_factory=list)
    lineage: list[DatasetStep] = field(default_factory=list)
    recipes: list[Recipe] = field(default_factory=list)
    numbers: dict[str, Fact] = field(default_factory=dict)
    papers: list[str] = field(default_factory=list)
    origin: Fact | None = None

    def cite(self, source: str) -> None:
        if source.startswith("arXiv:") and source not in self.papers:
            self.papers.append(source)

    def read(self, token: str, role: str, meaning: str, source: str) -> None:
        self.tokens.append(TokenReading(token, role, meaning, source))
        self.cite(source)

    def miss(self, token: str, where: str) -> None:
        self.unknown.append(token)
        self.tokens.append(TokenReading(token, "unknown", f"no vocabulary entry ({where})", ""))


@dataclass(frozen=True)
class _Arch:
    family: Family | None
    variant: list[tuple[str, str]]  # (token, meaning)
    facts: list[Fact]  # patch / window / extras
    readings: list[TokenReading]
    unknown: list[str]


def _family(part: str, vocab: MMVocab) -> tuple[Family, str] | None:
    """The longest family key ``part`` starts with at a token boundary, and what follows it."""
    for length in vocab.family_lengths:
        if length > len(part):
            continue
        fam = vocab.families.get(part[:length])
        if fam is None:
            continue
        rest = part[length:]
        if not rest or rest[0] == "-" or (fam.inline and rest[0].isdigit()):
            return fam, rest.removeprefix("-")
    return None


def _read_arch(part: str, vocab: MMVocab) -> _Arch:
    found = _family(part, vocab)
    if found is None:
        return _Arch(None, [], [], [TokenReading(part, "unknown", "no backbone family", "")], [part])
    fam, rest = found
    readings = [TokenReading(fam.key, "family", fam.family, fam.source)]
    variant: list[tuple[str, str]] = []
    facts: list[Fact] = []
    unknown: list[str] = []
    for tok in rest.split("-") if rest else ():
        entry = fam.words.get(tok) or vocab.words.get(tok)
        if fam.variant is not None and entry is None and fam.variant.fullmatch(tok):
            variant.append((tok, tok))
            readings.append(TokenReading(tok, "variant", f"{fam.family} {fam.variant_meaning}", fam.source))
            continue
        if entry is not None:
            source = entry.get("source", fam.source)
            if entry["field"] == "variant":
                variant.append((tok, str(entry["value"])))
            else:
                facts.append(Fact(entry["value"], tok, "tag", source, entry["field"]))
            readings.append(TokenReading(tok, entry["field"], str(entry["value"]), source))
            continue
        rule = next(
            (
                r
                for r in vocab.numbers
                if r.backbone_only and (fam.window or not r.window_only) and r.regex.fullmatch(tok)
            ),
            None,
        )
        if rule is not None:
            n = int(re.sub(r"\D", "", tok))
            facts.append(Fact(n, tok, "tag", rule.source, rule.field))
            readings.append(TokenReading(tok, rule.field, rule.meaning.format(n=n), rule.source))
            continue
        unknown.append(tok)
        readings.append(TokenReading(tok, "unknown", f"no {fam.family} variant or backbone word", ""))
    return _Arch(fam, variant, facts, readings, unknown)


def _split_tokens(part: str, vocab: MMVocab) -> list[str]:
    """Split a part at '-', joining known phrases (``zeroshot-cls``, ``eva-mae-style``), longest first."""
    raw = part.split("-")
    out: list[str] = []
    i = 0
    while i < len(raw):
        for length in range(min(vocab.phrase_len.get(raw[i], 1), len(raw) - i), 1, -1):
            phrase = "-".join(raw[i : i + length])
            if phrase in vocab.tokens:
                out.append(phrase)
                i += length
                break
        else:
            out.append(raw[i])
            i += 1
    return out


def _number(tok: str, stage: str, last_part: bool, vocab: MMVocab, r: _Reading) -> bool:
    for rule in vocab.numbers:
        if rule.backbone_only or (rule.last_part_only and not last_part):
            continue
        m = rule.regex.fullmatch(tok)
        if m is None:
            continue
        if rule.field == "gpus_batch":
            gpus, batch = int(m.group("gpus")), int(m.group("batch"))
            r.details.append(Fact(gpus, tok, "tag", rule.source, "gpus"))
            r.details.append(Fact(batch, tok, "tag", rule.source, "per_gpu_batch_size"))
            _set(r, "global_batch_size", Fact(gpus * batch, tok, "tag", rule.source, "global_batch_size"))
            r.read(
                tok,
                "batch_size",
                rule.meaning.format(gpus=gpus, batch=batch, total=gpus * batch),
                rule.source,
            )
            return True
        n = int(m.group("n"))
        name = {"epochs": "epochs", "resolution": "train_resolution"}[rule.field]
        fact = Fact(n, tok, "tag", rule.source, name)
        if stage == "pretrain":
            r.details.append(Fact(n, tok, "tag", rule.source, f"pretrain_{rule.field}"))
        else:
            _set(r, name, fact)
        r.read(
            tok,
            rule.field,
            ("pretraining " if stage == "pretrain" else "") + rule.meaning.format(n=n),
            rule.source,
        )
        return True
    return False


def _set(r: _Reading, name: str, fact: Fact) -> None:
    if name in r.numbers:
        r.ambiguous.append(f"{fact.token}: a second {name} in one name (kept {r.numbers[name].value})")
    else:
        r.numbers[name] = fact


def _read_token(tok: str, stage: str, last_part: bool, vocab: MMVocab, r: _Reading, said: set[str]) -> None:
    entry = vocab.tokens.get(tok)
    if entry is None:
        if not _number(tok, stage, last_part, vocab, r):
            r.miss(tok, "MMPreTrain name token")
        return
    if stage == "train" and "train_stage" in entry:
        entry = {**entry, **entry["train_stage"]}
    source = entry["source"]
    role = "detail"
    if entry.get("pre"):
        role = "separator"
    if entry.get("dataset"):
        role = "dataset"
        ds = vocab.datasets[entry["dataset"]]
        r.lineage.append(
            DatasetStep(
                "pretrain" if stage == "pretrain" else ("finetune" if stage == "finetune" else "train"),
                ds["name"],
                tok,
                ds.get("hub_id"),
                bool(ds.get("hub_id_is_real")),
                ds.get("source", source),
                ds.get("size"),
            )
        )
        if ds.get("paradigm") and stage not in said and "algorithm" not in said:
            r.paradigm.append(Fact(ds["paradigm"], tok, "tag", ds.get("source", source), "paradigm"))
            said.add(stage)
    if entry.get("method"):
        role = "method"
        field_name = "pretrain_method" if stage == "pretrain" else "method"
        r.details.append(Fact(entry["method"], tok, "tag", source, field_name))
    if entry.get("paradigm"):
        r.paradigm.append(Fact(entry["paradigm"], tok, "tag", source, "paradigm"))
        said.add(stage)
    if entry.get("origin"):
        role = "origin" if role == "detail" else role
        fact = Fact(entry["origin"], tok, "tag", source, "origin")
        if r.origin is None:
            r.origin = fact
        else:
            r.details.append(Fact(entry["origin"], tok, "tag", source, "also from"))
    if entry.get("recipe"):
        role = "recipe"
        recipe = vocab.recipes[entry["recipe"]]
        r.recipes.append(recipe)
        r.cite(recipe.source)
        if recipe.epochs is not None:
            r.numbers.setdefault("recipe_epochs", Fact(recipe.epochs, tok, "tag", recipe.source, "epochs"))
    if entry.get("task"):
        role = "task" if role == "detail" else role
        r.details.append(Fact(entry["task"], tok, "tag", source, "task"))
    if entry.get("detail"):
        r.details.append(Fact(entry["detail"], tok, "tag", source, entry.get("field", "detail")))
    for name, value in entry.get("sets", {}).items():
        _set(r, name, Fact(value, tok, "tag", source, name))
    r.read(tok, role, entry["meaning"], source)


def decode_mmpretrain(name: str) -> ModelTag:
    """Decode an MMPreTrain model or config name.

    Args:
        name: ``resnet50_8xb256-rsb-a1-600e_in1k``, ``mae_vit-base-p16_8xb512-amp-coslr-300e_in1k`` …

    Returns:
        A :class:`ModelTag` with ``form="mmpretrain"``; unknown tokens in ``unknown_tokens``, never guessed.

    Raises:
        TagError: the name is malformed (empty, too long, upper case, odd characters, empty parts).

    Example:
        >>> decode_mmpretrain("resnet50_8xb256-rsb-a1-600e_in1k").global_batch_size.value
        2048
    """
    raw = validate(name)
    text = raw.lower()
    vocab = load()
    parts = text.split("_")
    head = _Reading()
    start = 0
    if len(parts) > 1 and parts[0] in vocab.algorithms:
        arch = _arch(parts[1], vocab)
        if arch.family is not None and not arch.unknown:
            algo = vocab.algorithms[parts[0]]
            head.read(parts[0], "algorithm", algo["name"], algo["source"])
            head.details.append(Fact(algo["name"], parts[0], "tag", algo["source"], "algorithm"))
            head.paradigm.append(Fact(algo["paradigm"], parts[0], "tag", algo["source"], "paradigm"))
            start = 1
    arch = _arch(parts[start], vocab)
    head.tokens.extend(arch.readings)
    head.unknown.extend(arch.unknown)
    for reading in arch.readings:
        head.cite(reading.source)
    if arch.family is not None and arch.family.paradigm and not head.paradigm:
        head.paradigm.append(
            Fact(arch.family.paradigm, arch.family.key, "tag", arch.family.source, "paradigm")
        )
    rest = "_".join(parts[start + 1 :])
    return _freeze(raw, parts[start], rest, arch, head, _rest(rest, bool(head.paradigm), vocab))


# Zoo names share backbones and tails (548 names: 267 backbone parts, 173 tails): each is read once per
# process and shared, which is safe because the readings are frozen. Bounded so junk cannot grow them.
_ARCH_CACHE: dict[str, _Arch] = {}
_REST_CACHE: dict[tuple[str, bool], _Reading] = {}
_CACHE_MAX = 4096


def clear_cache() -> None:
    """Forget remembered readings (benchmarks call this to time cold decoding)."""
    _ARCH_CACHE.clear()
    _REST_CACHE.clear()


def _arch(part: str, vocab: MMVocab) -> _Arch:
    hit = _ARCH_CACHE.get(part)
    if hit is None:
        if len(_ARCH_CACHE) >= _CACHE_MAX:
            _ARCH_CACHE.clear()
        hit = _ARCH_CACHE[part] = _read_arch(part, vocab)
    return hit


def _rest(rest: str, paradigm_said: bool, vocab: MMVocab) -> _Reading:
    """The reading of the parts after the backbone (shared: callers must not change it)."""
    key = (rest, paradigm_said)
    hit = _REST_CACHE.get(key)
    if hit is None:
        if len(_REST_CACHE) >= _CACHE_MAX:
            _REST_CACHE.clear()
        hit = _Reading()
        _read_rest(rest.split("_") if rest else [], vocab, hit, {"algorithm"} if paradigm_said else set())
        _REST_CACHE[key] = hit
    return hit


def _read_rest(rest: list[str], vocab: MMVocab, r: _Reading, said: set[str]) -> None:
    split = [_split_tokens(p, vocab) for p in rest]
    pre_at = next(((i, j) for i, toks in enumerate(split) for j, t in enumerate(toks) if t == "pre"), None)
    # Only the data part after "pre" (and nothing else after it in its part): a pretrained-only release
    # whose data part names the pretraining data ("vit-base-p14_eva02-pre_in21k").
    pretrained_only = (
        pre_at is not None and pre_at[0] == len(split) - 2 and pre_at[1] == len(split[pre_at[0]]) - 1
    )
    stage = "pretrain" if pre_at is not None else "train"
    for i, toks in enumerate(split):
        for j, tok in enumerate(toks):
            _read_token(tok, stage, i == len(split) - 1, vocab, r, said)
            if (i, j) == pre_at and not pretrained_only:
                stage = "finetune"
    if pretrained_only:
        r.details.append(Fact("pretrained only (no fine-tuning)", "pre", "tag", _CONVENTION, "training"))


def _freeze(raw: str, backbone: str, pretrained: str, arch: _Arch, head: _Reading, r: _Reading) -> ModelTag:
    fam = arch.family
    source = fam.source if fam is not None else ""
    family = Fact(
        fam.family if fam is not None else "unknown", fam.key if fam else None, "tag", source, "family"
    )
    variant = None
    if arch.variant:
        variant = Fact(
            "-".join(v for _, v in arch.variant),
            "-".join(t for t, _ in arch.variant),
            "tag",
            source,
            "variant",
        )
    by_field = {f.field: f for f in arch.facts}
    architecture = Architecture(
        name=backbone,
        family=family,
        variant=variant,
        patch_size=by_field.get("patch_size"),
        window=by_field.get("window"),
        extras=tuple(f for f in arch.facts if f.field not in ("patch_size", "window")),
    )
    papers = head.papers + [p for p in r.papers if p not in head.papers]
    return ModelTag(
        raw=raw,
        form="mmpretrain",
        architecture=architecture,
        pretrained=pretrained,
        origin=r.origin,
        paradigm=(*head.paradigm, *r.paradigm),
        lineage=tuple(r.lineage),
        train_resolution=r.numbers.get("train_resolution"),
        epochs=r.numbers.get("epochs") or r.numbers.get("recipe_epochs"),
        global_batch_size=r.numbers.get("global_batch_size"),
        recipes=tuple(r.recipes),
        details=(*head.details, *r.details),
        tokens=(*head.tokens, *r.tokens),
        unknown_tokens=(*head.unknown, *r.unknown),
        ambiguous=tuple(r.ambiguous),
        papers=tuple(papers),
    )
