"""Which configs may train together as one pack, and how a list of configs is cut into packs.

Torch-free (it only counts parameters), so the search's ``--dry-run`` and planner can use it without
importing the training engine."""

from __future__ import annotations

import math
from collections.abc import Sequence

from tune_mnist.core.config import TrialConfig
from tune_mnist.core.errors import InputError
from tune_mnist.model.counts import mlp_params

#: plan_packs pads a pack to its largest member only while that costs at most PAD_SLACK times the
#: members' own parameters, plus PAD_FREE_PARAMS per member (below that, a step's fixed costs
#: dominate: a 64-256-10 model has 19,210). Without this limit a random space of widely varying
#: shapes packs into many times its own parameters.
PAD_SLACK = 1.5
PAD_FREE_PARAMS = 20_000


def pack_key(config: TrialConfig) -> tuple[int, int, int]:
    """What members of one pack must share: (batch_size, epochs, depth)."""
    return (config.batch_size, config.epochs, config.depth)


def check_packable(configs: Sequence[TrialConfig]) -> None:
    """Raise InputError (one sentence) unless ``configs`` can train as one pack."""
    if len(configs) == 0:
        raise InputError("The pack has no configs: pass at least one TrialConfig to train_packed.")
    for i, config in enumerate(configs):
        if not isinstance(config, TrialConfig):
            raise InputError(
                f"Pack member {i} is a {type(config).__name__}, not a TrialConfig: "
                "build configs with TrialConfig(...) or TrialConfig.from_dict(...)."
            )
    for name, index in (("batch_size", 0), ("epochs", 1), ("depth", 2)):
        values = sorted({pack_key(c)[index] for c in configs})
        if len(values) > 1:
            raise InputError(
                f"Configs in one pack must share {name}, but these have {name} "
                f"{', '.join(map(str, values))}: split them with tune_mnist.training.packed.plan.plan_packs "
                "(it groups by batch_size, epochs and depth)."
            )


def padded_params(configs: Sequence[TrialConfig]) -> int:
    """Parameters a pack of ``configs`` really trains: K copies of its largest input and width."""
    depth = configs[0].depth
    return len(configs) * mlp_params(
        max(c.in_features for c in configs), depth, max(c.width for c in configs) if depth else 1
    )


def own_params(configs: Sequence[TrialConfig]) -> int:
    """Parameters of ``configs`` trained one by one, without padding."""
    return sum(mlp_params(c.in_features, c.depth, c.width) for c in configs)


def plan_packs(configs: Sequence[TrialConfig], max_size: int) -> list[list[int]]:
    """Indices of ``configs`` in packs of at most ``max_size``, most work first.

    Members must share (batch_size, epochs, depth). Inside such a group, configs in (width, input
    features) order join the current pack while padding them all to its largest shape costs at most
    PAD_SLACK times their own parameters (plus PAD_FREE_PARAMS per member, which small models get
    for free: their steps are dominated by fixed costs); otherwise they start the next pack. A run
    of configs that fit together is cut into even packs (10 configs at max 8: 5 + 5, not 8 + 2).
    The heaviest packs come first, so that the last trials to start are short ones."""
    if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
        raise InputError(f"Pack size {max_size!r} is invalid: use a positive integer.")
    groups: dict[tuple[int, int, int], list[int]] = {}
    for i, config in enumerate(configs):
        groups.setdefault(pack_key(config), []).append(i)
    packs = []
    for key in sorted(groups):
        members = sorted(
            groups[key],
            key=lambda i: (configs[i].width if configs[i].depth else 0, configs[i].in_features, configs[i].lr, i),
        )
        runs: list[list[int]] = []
        own = widest = largest = 0  # of the last run, kept as it grows
        for i in members:
            c = configs[i]
            mine = own_params([c])
            if runs:
                k, width, features = len(runs[-1]) + 1, max(widest, c.width), max(largest, c.in_features)
                if k * mlp_params(features, c.depth, width) <= PAD_SLACK * (own + mine) + k * PAD_FREE_PARAMS:
                    runs[-1].append(i)
                    own, widest, largest = own + mine, width, features
                    continue
            runs.append([i])
            own, widest, largest = mine, c.width, c.in_features
        for run in runs:
            count = math.ceil(len(run) / max_size)
            size = math.ceil(len(run) / count)
            packs.extend(run[j : j + size] for j in range(0, len(run), size))

    def work(pack: list[int]) -> int:
        return padded_params([configs[i] for i in pack]) * configs[pack[0]].epochs

    return sorted(packs, key=lambda pack: (-work(pack), pack[0]))
