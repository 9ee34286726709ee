"""What a list space's configs become as trials: how many configs each trial trains (``--pack``),
one Tune config per trial, and the trial directory names."""

from __future__ import annotations

import argparse
import math
from typing import Any

from tune_mnist.config import PACK_MEMBERS, PACK_SEEDS, TrialConfig, config_label, pack_members

#: ``--pack auto`` on GPU trials: at most this many configs per trial.
AUTO_PACK_GPU = 64


def pack_size(args: argparse.Namespace) -> int:
    """Configs per trial; ``resolve_pack`` has turned ``auto`` into a number by the time trials start."""
    return 1 if args.pack == "auto" else int(args.pack)


def resolve_pack(args: argparse.Namespace, configs: list[TrialConfig], gpus: float) -> None:
    """``auto``: no packing on CPU trials; on GPU trials, packs of up to AUTO_PACK_GPU configs, but
    never fewer trials than the cluster has GPU slots, so that no GPU sits idle."""
    if args.pack != "auto":
        return
    if args.gpus_per_trial <= 0:
        args.pack = "1"
        return
    slots = max(1, int(gpus // args.gpus_per_trial))
    args.pack = str(max(1, min(AUTO_PACK_GPU, math.ceil(len(configs) / slots))))


def trial_points(configs: list[TrialConfig], args: argparse.Namespace) -> list[dict[str, Any]]:
    """One Tune config per trial: a flat config, or with packing a list of ``members``. Either way
    the heaviest trials come first (``plan_packs``), so the search does not end on one long trial
    while the other CPUs or GPUs sit idle."""
    from tune_mnist.packed.plan import plan_packs

    k = pack_size(args)
    if k == 1:
        return [{**configs[i].to_dict(), **run_constants(args)} for (i,) in plan_packs(configs, 1)]
    return [
        {PACK_MEMBERS: [configs[i].to_dict() for i in pack], **run_constants(args)} for pack in plan_packs(configs, k)
    ]


def configs_in(points: list[dict[str, Any]]) -> int:
    """How many configs the trials of ``points`` train."""
    return sum(len(p.get(PACK_MEMBERS, [p])) for p in points)


def run_constants(args: argparse.Namespace) -> dict[str, Any]:
    """Recorded in every trial's params.json beside the config, so a trial says what data it saw."""
    return {
        "validation_size": args.validation_size,
        "split_seed": args.split_seed,
        "subset": args.subset,
        "min_accuracy": args.min_accuracy,
    }


def trial_dirname(trial: Any) -> str:
    """``<trial id>_pack<K>`` for a pack of K configs, ``<trial id>_<config>_seeds<S>`` for a config
    trained over S seeds in one trial, ``<trial id>_<config>`` for one config."""
    c = trial.config
    if PACK_MEMBERS in c:
        return f"{trial.trial_id}_pack{len(c[PACK_MEMBERS])}"
    if pack_members(c):
        return f"{trial.trial_id}_{config_label(c, '_')}_seeds{c[PACK_SEEDS]}"
    return f"{trial.trial_id}_{config_label(c, '_')}"
