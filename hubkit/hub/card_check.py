"""What ``/api/validate-yaml`` says about a card's front matter, like the Hub's card schema check.

The Hub answers 400 with ``{"errors": [{"message": ...}]}`` for metadata that breaks the card schema
(``huggingface_hub`` then raises ``ValueError("Invalid metadata in README.md...")`` before uploading
anything) and 200 with a warning for a card without metadata. Only the parts of the schema that
clients rely on are checked here: the shape of ``model-index`` (what ``huggingface_hub.repocard_data``
reads back as eval results) and the types of a few common keys.
"""

from __future__ import annotations

from typing import Any

# The Hub's warning for a card without metadata (the client shows it as a UserWarning).
EMPTY_METADATA = "Empty or missing yaml metadata in repo card (https://huggingface.co/docs/hub/model-cards#model-card-metadata)"
# Keys whose value is a string or a list of strings on the Hub (docs: model-cards#model-card-metadata).
_STRING_OR_LIST = ("license", "language", "tags", "datasets", "metrics", "base_model")


def _model_index_errors(value: Any) -> list[str]:
    if not isinstance(value, list):
        return ['"model-index" must be an array']
    errors: list[str] = []
    for i, item in enumerate(value):
        where = f'"model-index[{i}]"'
        if not isinstance(item, dict):
            errors.append(f"{where} must be an object")
            continue
        if "name" in item and not isinstance(item["name"], str):
            errors.append(f"{where}.name must be a string")
        results = item.get("results")
        if not isinstance(results, list):
            errors.append(f"{where}.results must be an array")
            continue
        for j, result in enumerate(results):
            rwhere = f"{where}.results[{j}]"
            if not isinstance(result, dict):
                errors.append(f"{rwhere} must be an object")
                continue
            task = result.get("task")
            if not isinstance(task, dict) or not isinstance(task.get("type"), str):
                errors.append(f"{rwhere}.task.type is required and must be a string")
            metrics = result.get("metrics", [])
            if not isinstance(metrics, list) or not all(
                isinstance(m, dict) and isinstance(m.get("type"), str) for m in metrics
            ):
                errors.append(f"{rwhere}.metrics must be an array of objects with a string 'type'")
    return errors


def metadata_problems(data: dict[str, Any] | None) -> tuple[list[str], list[str]]:
    """``(errors, warnings)`` for a card's parsed front matter (``None``: the card has none).

    Example:
        >>> metadata_problems({"model-index": "foo"})[0]
        ['"model-index" must be an array']
        >>> metadata_problems(None)[1] == [EMPTY_METADATA]
        True
    """
    if not data:
        return [], [EMPTY_METADATA]
    errors: list[str] = []
    if "model-index" in data:
        errors += _model_index_errors(data["model-index"])
    for key in _STRING_OR_LIST:
        value = data.get(key)
        if value is not None and not (
            isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        ):
            errors.append(f'"{key}" must be a string or an array of strings')
    return errors, []
