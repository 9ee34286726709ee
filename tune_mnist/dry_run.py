"""``--dry-run``: the configs a space expands to, with params and FLOPs, and with ``--pack`` the packs
they would train in; nothing starts."""

from __future__ import annotations

import argparse

from tune_mnist.config import TrialConfig
from tune_mnist.counts import mlp_flops, mlp_params
from tune_mnist.trials import adaptive_packing, pack_size, resolve_pack


def print_dry_run(args: argparse.Namespace, configs: list[TrialConfig] | None) -> None:
    """``configs``: the list space's configs, None for an adaptive space (nothing to list before it runs)."""
    if configs is None:
        size, k = adaptive_packing(args)
        seeds = f", {size} at a time" if size > 1 else ""
        seeds += f", each trained over {k} seeds in one trial" if k > 1 else ""
        print(f"The {args.space} space proposes configs as it learns{seeds}; nothing to list before it runs.")
        return
    print_configs(configs)
    import torch

    resolve_pack(args, configs, torch.cuda.device_count())  # as a local run would see it
    if pack_size(args) > 1:
        print_packs(configs, pack_size(args))


def print_configs(configs: list[TrialConfig]) -> None:
    print(f"{len(configs)} configs:")
    head = (
        f"{'#':>3} {'input':<18} {'depth':>5} {'width':>5} {'lr':>8} {'batch':>5} {'epochs':>6} {'seed':>4} "
        f"{'params':>11} {'FLOPs':>12}"
    )
    print(head)
    for i, c in enumerate(configs):
        print(
            f"{i:>3} {c.input_spec:<18} {c.depth:>5} {c.width:>5} {c.lr:>8.2g} {c.batch_size:>5} {c.epochs:>6} "
            f"{c.seed:>4} {mlp_params(c.in_features, c.depth, c.width):>11,} "
            f"{mlp_flops(c.in_features, c.depth, c.width):>12,}"
        )


def print_packs(configs: list[TrialConfig], size: int) -> None:
    """The plan ``trial_points`` turns into trials, and the padding it trains."""
    from tune_mnist.packed.plan import own_params, padded_params, plan_packs

    packs = [[configs[i] for i in pack] for pack in plan_packs(configs, size)]
    padded = sum(padded_params(pack) for pack in packs) / own_params(configs)
    print(
        f"in {len(packs)} packs (one trial each, heaviest first) of sizes "
        f"{', '.join(str(len(pack)) for pack in packs)}; padding to each pack's largest shape trains "
        f"{padded:.2f}x the configs' own parameters"
    )
