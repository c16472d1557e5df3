"""License ids a model card may declare (``license:`` in the front matter), and their check.

The Hub accepts only its own license identifiers in card metadata; anything else is refused when the card
is pushed. Source: https://huggingface.co/docs/hub/repositories-licenses (the table "License identifier (to
use in repo card)"). ``other`` is the Hub's id for a license not in that table.
"""

from __future__ import annotations

from hubkit.errors import InputError

SOURCE = "https://huggingface.co/docs/hub/repositories-licenses"
HUB_LICENSES: frozenset[str] = frozenset(
    [
        "apache-2.0",
        "mit",
        "openrail",
        "bigscience-openrail-m",
        "creativeml-openrail-m",
        "bigscience-bloom-rail-1.0",
        "bigcode-openrail-m",
        "afl-3.0",
        "artistic-2.0",
        "bsl-1.0",
        "bsd",
        "bsd-2-clause",
        "bsd-3-clause",
        "bsd-3-clause-clear",
        "c-uda",
        "cc",
        "cc0-1.0",
        "cc-by-2.0",
        "cc-by-2.5",
        "cc-by-3.0",
        "cc-by-4.0",
        "cc-by-sa-3.0",
        "cc-by-sa-4.0",
        "cc-by-nc-2.0",
        "cc-by-nc-3.0",
        "cc-by-nc-4.0",
        "cc-by-nd-4.0",
        "cc-by-nc-nd-3.0",
        "cc-by-nc-nd-4.0",
        "cc-by-nc-sa-2.0",
        "cc-by-nc-sa-3.0",
        "cc-by-nc-sa-4.0",
        "cdla-sharing-1.0",
        "cdla-permissive-1.0",
        "cdla-permissive-2.0",
        "wtfpl",
        "ecl-2.0",
        "epl-1.0",
        "epl-2.0",
        "etalab-2.0",
        "eupl-1.1",
        "eupl-1.2",
        "agpl-3.0",
        "gfdl",
        "gpl",
        "gpl-2.0",
        "gpl-3.0",
        "lgpl",
        "lgpl-2.1",
        "lgpl-3.0",
        "isc",
        "h-research",
        "intel-research",
        "lppl-1.3c",
        "ms-pl",
        "apple-ascl",
        "apple-amlr",
        "mpl-2.0",
        "odc-by",
        "odbl",
        "openrail++",
        "osl-3.0",
        "postgresql",
        "ofl-1.1",
        "ncsa",
        "unlicense",
        "zlib",
        "pddl",
        "lgpl-lr",
        "deepfloyd-if-license",
        "llama2",
        "llama3",
        "llama3.1",
        "llama3.2",
        "llama3.3",
        "llama4",
        "gemma",
        "unknown",
        "other",
    ]
)
# Shown in error hints: the ids most weights are released under.
COMMON = ("apache-2.0", "mit", "bsd-3-clause", "cc-by-4.0", "cc-by-nc-4.0", "openrail", "other")


def validate_license(license_id: str | None) -> str | None:
    """Return ``license_id`` when the Hub accepts it in card metadata (None passes: no license given).

    Args:
        license_id: a Hub license identifier such as ``"apache-2.0"``.

    Returns:
        The same id.

    Raises:
        InputError: the id is not one of the Hub's license identifiers (the hint lists common ones).

    Example:
        >>> validate_license("apache-2.0")
        'apache-2.0'
    """
    if license_id is None or license_id in HUB_LICENSES:
        return license_id
    lowered = license_id.strip().lower()
    suggestion = f"; did you mean {lowered!r}?" if lowered in HUB_LICENSES else ""
    raise InputError(
        f"{license_id!r} is not a license identifier the Hub accepts in a model card{suggestion}",
        hint=f"pass --license one of the Hub's ids, e.g. {', '.join(COMMON)} (full list: {SOURCE})",
    )
