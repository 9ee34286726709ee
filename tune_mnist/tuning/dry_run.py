"""``--dry-run``: the configs a space expands to, with params and FLOPs, with ``--pack`` the packs
they would train in, and the disk the experiment will take (``tune_mnist.experiment.footprint``); nothing starts."""

from __future__ import annotations

import argparse
import os

from tune_mnist.core.config import TrialConfig
from tune_mnist.experiment.footprint import Estimate, estimate, megabytes, trial_bytes
from tune_mnist.model.counts import mlp_flops, mlp_params
from tune_mnist.strategies.study_journal import dashboard_line
from tune_mnist.tuning.trials import adaptive_packing, pack_size, resolve_pack


def print_dry_run(args: argparse.Namespace, configs: list[TrialConfig] | None) -> None:
    """``configs``: the list space's configs, None for an adaptive space (nothing to list before it runs)."""
    if configs is None:
        size, k = adaptive_packing(args)
        seeds = f", {size} at a time" if size > 1 else ""
        seeds += f", each trained over {k} seeds in one trial" if k > 1 else ""
        print(f"The {args.space} space proposes configs as it learns{seeds}; nothing to list before it runs.")
        name = args.name or f"{args.space}-<date>-<time>"
        dashboard = dashboard_line(f"{args.storage_path.rstrip('/')}/{name}", written=False)
        if dashboard:
            print(dashboard)
        return
    print_configs(configs)
    import torch

    resolve_pack(args, configs, torch.cuda.device_count())  # as a local run would see it
    if pack_size(args) > 1:
        print_packs(configs, pack_size(args))
    print(disk_text(args, configs, disk_estimate(args, configs)))


def local_slots(args: argparse.Namespace) -> int:
    """Trials at once on this machine (``--max-concurrent``, else its CPUs per ``--cpus-per-trial``)."""
    return args.max_concurrent or max(1, int((os.cpu_count() or 1) // args.cpus_per_trial))


def disk_estimate(args: argparse.Namespace, configs: list[TrialConfig]) -> Estimate:
    return estimate(configs, local_slots(args))


def disk_text(args: argparse.Namespace, configs: list[TrialConfig], est: Estimate) -> str:
    """The expected disk use in a sentence or two."""
    text = (
        f"Disk: about {megabytes(est.finished)} once its {est.trials} trials have finished "
        f"({megabytes(est.weights)} of it the models' float32 weights), and up to {megabytes(est.running)} more "
        f"while {local_slots(args)} run at once (their resumable checkpoints)."
    )
    confirm, seeds = getattr(args, "confirm", 1), max(1, getattr(args, "seeds", 1))
    if confirm > seeds:
        most = sum(trial_bytes(c) for c in configs) * (confirm - seeds) // seeds
        text += (
            f" The confirmation stage (--confirm {confirm}) adds the same per seed it trains again: at most "
            f"{megabytes(most)} if it confirmed every config."
        )
    return text


def print_configs(configs: list[TrialConfig]) -> None:
    print(f"{len(configs)} configs (named as their trial directories and the live table name them):")
    wide = max([len("config"), *(len(c.label()) for c in configs)])
    head = (
        f"{'#':>3} {'config':<{wide}} {'input':<18} {'depth':>5} {'width':>5} {'lr':>8} {'batch':>5} "
        f"{'epochs':>6} {'seed':>4} "
        f"{'params':>11} {'FLOPs':>12}"
    )
    print(head)
    for i, c in enumerate(configs):
        print(
            f"{i:>3} {c.label():<{wide}} {c.input_spec:<18} {c.depth:>5} {c.width:>5} {c.lr:>8.2g} "
            f"{c.batch_size:>5} {c.epochs:>6} "
            f"{c.seed:>4} {mlp_params(c.in_features, c.depth, c.width):>11,} "
            f"{mlp_flops(c.in_features, c.depth, c.width):>12,}"
        )


def print_packs(configs: list[TrialConfig], size: int) -> None:
    """The plan ``trial_points`` turns into trials, and the padding it trains."""
    from tune_mnist.training.packed.plan import own_params, padded_params, plan_packs

    packs = [[configs[i] for i in pack] for pack in plan_packs(configs, size)]
    padded = sum(padded_params(pack) for pack in packs) / own_params(configs)
    print(
        f"in {len(packs)} packs (one trial each, heaviest first) of sizes "
        f"{', '.join(str(len(pack)) for pack in packs)}; padding to each pack's largest shape trains "
        f"{padded:.2f}x the configs' own parameters"
    )
