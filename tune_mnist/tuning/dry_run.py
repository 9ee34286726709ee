"""``--dry-run``: the configs a space expands to, with params and FLOPs, with ``--pack`` the packs
they would train in, and the disk the experiment will take (``tune_mnist.experiment.footprint``); nothing starts."""

from __future__ import annotations

import os

from tune_mnist.core.config import TrialConfig
from tune_mnist.core.options import SearchOptions
from tune_mnist.experiment.footprint import Estimate, estimate, megabytes, trial_bytes
from tune_mnist.model.counts import mlp_flops, mlp_params
from tune_mnist.strategies.study_journal import dashboard_line
from tune_mnist.training.packed.cost_model import StepCost
from tune_mnist.tuning.trials import adaptive_packing, pack_size, resolve_pack

#: MNIST's training images (the validation split is held out of them).
MNIST_TRAIN_IMAGES = 60_000


def print_dry_run(options: SearchOptions, configs: list[TrialConfig] | None) -> None:
    """``configs``: the list space's configs, None for an adaptive space (nothing to list before it runs)."""
    if configs is None:
        size, k = adaptive_packing(options)
        seeds = f", {size} at a time" if size > 1 else ""
        seeds += f", each trained over {k} seeds in one trial" if k > 1 else ""
        if k > 1 and options.pack in ("auto", "cost") and options.gpus_per_trial <= 0:
            seeds += " where they cost at most 1.5x one seed alone (small models), else over one"
        print(f"The {options.space} space proposes configs as it learns{seeds}; nothing to list before it runs.")
        name = options.name or f"{options.space}-<date>-<time>"
        dashboard = dashboard_line(f"{options.storage_path.rstrip('/')}/{name}", written=False)
        if dashboard:
            print(dashboard)
        return
    print_configs(configs)
    import torch

    # as a local run would see it
    options = resolve_pack(options.replace(n_train=train_images(options)), configs, torch.cuda.device_count())
    if pack_size(options) > 1:
        print_packs(configs, pack_size(options), options.pack_plan)
    cost = options.pack_cost
    if cost is not None:
        print(speedup_text(configs, options.pack_plan, cost, options.n_train))
    print(disk_text(options, configs, disk_estimate(options, configs)))


def local_slots(options: SearchOptions) -> int:
    """Trials at once on this machine (``--max-concurrent``, else its CPUs per ``--cpus-per-trial``)."""
    return options.max_concurrent or max(1, int((os.cpu_count() or 1) // options.cpus_per_trial))


def disk_estimate(options: SearchOptions, configs: list[TrialConfig]) -> Estimate:
    return estimate(configs, local_slots(options))


def disk_text(options: SearchOptions, configs: list[TrialConfig], est: Estimate) -> str:
    """The expected disk use in a sentence or two."""
    text = (
        f"Disk: about {megabytes(est.finished)} once its {len(configs)} trials have finished "
        f"({megabytes(est.weights)} of it the models' float32 weights), and up to {megabytes(est.running)} more "
        f"while {local_slots(options)} run at once (their resumable checkpoints)."
    )
    confirm, seeds = options.confirm, max(1, options.seeds)
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


def print_packs(configs: list[TrialConfig], size: int, plan: list[list[int]] | None = None) -> None:
    """The plan ``trial_points`` turns into trials (``plan``: the cost model's), and the padding it trains."""
    from tune_mnist.training.packed.plan import own_params, padded_params, plan_packs

    packs = [[configs[i] for i in pack] for pack in plan or plan_packs(configs, size)]
    padded = sum(padded_params(pack) for pack in packs) / own_params(configs)
    grouped = [pack for pack in packs if len(pack) > 1]
    alone = len(packs) - len(grouped)
    print(
        f"in {len(packs)} trials (heaviest first): {len(grouped)} packs of sizes "
        f"{', '.join(str(len(pack)) for pack in grouped) or '-'}"
        + (f" and {alone} configs alone" if alone else "")
        + f"; padding to each pack's largest shape trains {padded:.2f}x the configs' own parameters"
    )


def speedup_text(configs: list[TrialConfig], plan: list[list[int]], cost: StepCost, n_train: int) -> str:
    """What ``--pack auto`` expects of its plan, from the step costs it measured on this machine."""
    from tune_mnist.training.packed.cost_model import expected_time

    alone = expected_time(configs, [[i] for i in range(len(configs))], cost, n_train)
    planned = expected_time(configs, plan, cost, n_train)
    return (
        f"--pack auto measured this machine's training step: {1e6 * cost.solo_s:.0f} us fixed per model alone, "
        f"{1e6 * cost.pack_s:.0f} us per pack plus {1e6 * cost.member_s:.0f} us per member, "
        f"{cost.flops_per_s / 1e9:.1f} GFLOP/s; expected trial time over {n_train:,} images: "
        f"{alone:,.0f} s one config per trial, {planned:,.0f} s as planned ({alone / planned:.2f}x faster)"
    )


def train_images(options: SearchOptions) -> int:
    """The training images a run would see, for the estimate: MNIST's 60,000 less the validation split,
    or the subset."""
    full = MNIST_TRAIN_IMAGES - (options.validation_size or 0)
    return min(options.subset, full) if options.subset else full
