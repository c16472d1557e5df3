"""Which parameters a run's own lock settings freeze: the expected side of the frozen-group check.

Each framework reads its own settings (``Framework.lock_plan``): OpenCLIP calls open_clip's own
``lock_image_tower`` / ``lock_text_tower`` on a meta-device copy of the model with the run's
``--lock-image*`` / ``--lock-text*`` (``Hyperparams.locked_towers`` / ``unlocked_groups``); timm reads a
recorded ``--lock`` (``hubkit.frameworks.timm.LOCK_ARGS``); MMPreTrain runs its backbone's own
``_freeze_stages`` with the config's ``frozen_stages``. Here: the plan and the helpers they share.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hubkit.dynamics.model import Expectation, Grouping

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class LockPlan:
    """The parameters a run's settings freeze, with why."""

    frozen: Mapping[str, str] = field(default_factory=dict)  # param key -> "--lock-image (…)"
    bn_stats_frozen: frozenset[str] = frozenset()  # param keys whose group's BatchNorm statistics freeze
    settings: tuple[str, ...] = ()  # ("--lock-image", "--lock-image-unlocked-groups 1"); () when none

    def expectations(self, grouping: Grouping) -> tuple[Expectation, ...]:
        """One expectation per group: frozen when the settings freeze every parameter of it.

        Example:
            >>> [e.frozen for e in plan.expectations(grouping)]
            [True, True, False]
        """
        out = []
        for group in grouping.groups:
            keys = group.params
            frozen = bool(keys) and all(k in self.frozen for k in keys)
            if frozen:
                reasons = sorted({self.frozen[k] for k in keys})
                bn = all(k in self.bn_stats_frozen for k in keys)
                out.append(Expectation(True, bn, "; ".join(reasons)))
            else:
                why = "not frozen by the run's lock settings" if self.settings else "the run locks nothing"
                out.append(Expectation(False, False, why))
        return tuple(out)


def truthy(value: Any) -> bool:
    """A recorded flag's truth (args.yaml / params.txt / hubkit.json spell them in several ways).

    Example:
        >>> truthy("False"), truthy(1)
        (False, True)
    """
    return value not in (None, False, 0, "", "False", "false", "None")


def as_int(value: Any) -> int:
    """A recorded count, 0 when absent or not a number."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def parameter_names(model: torch.nn.Module) -> dict[int, str]:
    """id(parameter) -> state-dict key, for the parameters the state dict holds."""
    keys = set(model.state_dict().keys())
    return {id(p): n for n, p in model.named_parameters() if n in keys}
