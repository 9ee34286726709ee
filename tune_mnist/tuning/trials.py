"""What a list space's configs become as trials: how many configs each trial trains (``--pack``),
one Tune config per trial, and the trial directory names."""

from __future__ import annotations

import math
from typing import Any

from tune_mnist.core.config import PACK_MEMBERS, TrialConfig, config_label, trial_point
from tune_mnist.core.errors import InputError
from tune_mnist.core.options import SearchOptions

#: ``--pack auto`` on GPU trials: at most this many configs per trial.
AUTO_PACK_GPU = 64
#: The --pack values the run resolves itself: ``auto``, and ``cost`` (the measured cost model's plan).
PLANNED = ("auto", "cost")
#: ``--pack cost`` on a list space's CPU trials: at most this many configs per pack, where the measured
#: cost model (``tune_mnist.training.packed.cost_model``) expects packing to pay.
AUTO_PACK_CPU = 64
#: ``--pack auto`` in an adaptive space on CPU trials: proposals per pack trial (each over its seeds).
#: Enough members (8 x 3 seeds) that a tiny model's per-step overhead is shared many ways, few enough
#: that the sampler sees results often.
AUTO_PACK_ADAPTIVE_CPU = 8


def adaptive_packing(options: SearchOptions) -> tuple[int, int]:
    """(proposals per trial, seeds per proposal) of an adaptive space: each proposal is screened on the seeds
    the answer needs (``--confirm`` K, or ``--seeds`` if more), ``--pack`` proposals to a trial."""
    seeds = max(options.seeds, options.confirm)
    if options.pack not in PLANNED:
        return int(options.pack), seeds
    if options.gpus_per_trial > 0:
        return max(1, AUTO_PACK_GPU // seeds), seeds
    return AUTO_PACK_ADAPTIVE_CPU, seeds


def adaptive_packed(options: SearchOptions) -> bool:
    """Whether an adaptive space's trials are packs (more than one config or seed per trial)."""
    size, seeds = adaptive_packing(options)
    return size * seeds > 1


def check_adaptive_pack(options: SearchOptions) -> None:
    """Refuse (one sentence, before Ray starts) a ``--pack N`` that an adaptive search cannot fill."""
    if options.pack in PLANNED or options.num_samples is None or int(options.pack) <= options.num_samples:
        return
    raise InputError(
        f"--pack {options.pack} cannot apply to a search of --num-samples {options.num_samples} configs, which "
        f"never proposes {options.pack} at once: use --pack {options.num_samples} or less, or auto."
    )


def pack_size(options: SearchOptions) -> int:
    """Configs per trial; ``resolve_pack`` has turned ``auto`` into a number by the time trials start."""
    return 1 if options.pack in PLANNED else int(options.pack)


def resolve_pack(options: SearchOptions, configs: list[TrialConfig], gpus: float) -> SearchOptions:
    """The options with ``pack`` a number: on CPU trials ``auto`` is one config per trial and ``cost`` the
    measured cost model's plan (``plan_by_cost``, saved on the options for the trials and the confirmation
    stage); on GPU trials packs of up to AUTO_PACK_GPU configs, never fewer trials than GPU slots."""
    if isinstance(options.pack_cost, dict):  # --resume: the costs saved with the run, planned over what is left
        from tune_mnist.training.packed.cost_model import StepCost, plan_by_cost

        cost = StepCost(**options.pack_cost)
        return options.replace(pack_cost=cost, pack_plan=plan_by_cost(configs, AUTO_PACK_CPU, cost, options.n_train))
    if options.pack not in PLANNED:
        return options
    if options.gpus_per_trial <= 0 and options.pack == "auto":  # one config per trial, as before
        return options.replace(pack="1")
    if options.gpus_per_trial <= 0:
        from tune_mnist.training.packed.calibrate import measure_step_cost
        from tune_mnist.training.packed.cost_model import plan_by_cost

        cost = measure_step_cost(int(options.cpus_per_trial))
        plan = plan_by_cost(configs, AUTO_PACK_CPU, cost, options.n_train)
        return options.replace(pack_cost=cost, pack_plan=plan, pack=str(max(len(pack) for pack in plan)))
    slots = max(1, int(gpus // options.gpus_per_trial))
    return options.replace(pack=str(max(1, min(AUTO_PACK_GPU, math.ceil(len(configs) / slots)))))


def list_packed(options: SearchOptions, points: list[dict[str, Any]]) -> bool:
    """Whether a list space's trials run on the pack trainable: some point is a pack, or the plan is
    the cost model's (its confirmation rounds may pack seeds although screening packs nothing)."""
    return options.pack_plan is not None or any(PACK_MEMBERS in p for p in points)


def trial_points(configs: list[TrialConfig], options: SearchOptions) -> list[dict[str, Any]]:
    """One Tune config per trial, a flat config or a list of ``members``, the heaviest first (so that the
    search does not end on one long trial), or under ``--time-budget`` in a seeded random order
    (``tune_mnist.strategies.budget.anytime_order``: what has finished at any moment is a fair sample)."""
    from tune_mnist.strategies.budget import anytime_order
    from tune_mnist.training.packed.plan import plan_packs

    k = pack_size(options)
    flat = k == 1 or options.pack_plan is not None  # else a lone config is a pack of one, on the pack trainable
    plan = options.pack_plan or plan_packs(configs, k)
    points = [trial_point([configs[i] for i in pack], run_constants(options), flat) for pack in plan]
    return anytime_order(points, options.search_seed) if options.time_budget else points


def configs_in(points: list[dict[str, Any]]) -> int:
    """How many configs the trials of ``points`` train."""
    return sum(len(p.get(PACK_MEMBERS, [p])) for p in points)


def run_constants(options: SearchOptions) -> dict[str, Any]:
    """Recorded in every trial's params.json beside the config, so a trial says what data it saw."""
    return {
        "validation_size": options.validation_size,
        "split_seed": options.split_seed,
        "subset": options.subset,
        "min_accuracy": options.min_accuracy,
    }


def trial_label(config: dict[str, Any], sep: str = " ") -> str:
    """What a trial trains, in ``tune_mnist.core.labels``' words: ``pack<K>`` for a pack of K configs,
    ``<config> s<seed>`` for one config."""
    if PACK_MEMBERS in config:
        return f"pack{len(config[PACK_MEMBERS])}"
    return config_label(config, sep)


def trial_dirname(trial: Any) -> str:
    """``<trial id>_<trial label>``, e.g. ``3f854_00000_full28_2x2048_s0`` or ``3f854_00003_pack8``."""
    return f"{trial.trial_id}_{trial_label(trial.config, '_')}"


def trial_name(trial: Any) -> str:
    """The name Ray shows for a trial (status table, errors): its label as in its directory, with
    the trial id for a pack, whose label alone does not tell packs apart."""
    label = trial_label(trial.config)
    return f"{label} {trial.trial_id}" if PACK_MEMBERS in trial.config else label
