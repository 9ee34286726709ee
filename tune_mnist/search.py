"""``python -m tune_mnist.search``: run a named search space through Ray Tune.

Every trial's per-epoch rows, params and final checkpoint land in Ray's standard layout under
``<storage>/<name>/``; ``python -m analysis.pareto`` reads them from there."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from typing import Any

import search_spaces
from search_spaces import SpaceOptions
from tune_mnist.config import PACK_MEMBERS as MEMBERS, PACK_SEEDS, TrialConfig, config_label, pack_members
from tune_mnist.data import Splits, split_validation, subset
from tune_mnist.errors import InputError, exit_status
from tune_mnist.measure import mlp_flops, mlp_params
from tune_mnist.storage import RUN_FILE, check_shared, exists, read_text, storage_root, write_text
from tune_mnist.options import add_data_options, load_data, nonnegative_int, positive_float, positive_int

AUTO_PACK_GPU = 64
OBJECTIVES = (("val_acc", "max"), ("flops", "min"), ("latency_p50_us", "min"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tune_mnist.search", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    space = parser.add_argument_group("search space")
    space.add_argument("--space", default="grid",
                       help=f"one of: {', '.join(search_spaces.available())} (default grid)")
    space.add_argument("--num-samples", type=positive_int, help="configs to draw (random, adaptive; default 50)")
    space.add_argument("--seeds", type=positive_int, default=1,
                       help="repeat every config with K seeds (default 1); adaptive: each proposal's K seeds train "
                            "together in one trial and the searcher learns from their mean")
    space.add_argument("--search-seed", type=nonnegative_int, default=0, help="seed of random/adaptive sampling")
    space.add_argument("--epochs", type=positive_int, help="override the space's epochs")
    space.add_argument("--batch-size", type=positive_int, help="override the space's batch size")
    space.add_argument("--lr", type=positive_float, help="override the space's learning rate")
    space.add_argument("--min-accuracy", type=float, default=0.90,
                       help="the accuracy bar the summary and adaptive search use (default 0.90)")
    add_data_options(parser)
    run = parser.add_argument_group("experiment")
    run.add_argument("--name", help="experiment name (default <space>-<date>-<time>); with --resume, the one to continue")
    run.add_argument("--storage-path", default="ray_results",
                     help="where experiments live: a directory (made absolute) or a URI such as s3://bucket/path "
                          "(default ./ray_results)")
    run.add_argument("--shared-storage", action="store_true",
                     help="declare that every node of the cluster mounts --storage-path (checked for NFS and "
                          "similar mounts otherwise; a node-local path is refused on a multi-node cluster)")
    run.add_argument("--resume", action="store_true",
                     help="continue the experiment --name: finished trials are kept, unfinished and errored ones run")
    run.add_argument("--dry-run", action="store_true", help="print the configs with params and FLOPs; start nothing")
    res = parser.add_argument_group("resources")
    res.add_argument("--cpus-per-trial", type=positive_float, default=1, help="CPUs (and torch threads) per trial (default 1)")
    res.add_argument("--gpus-per-trial", type=float, default=0, help="GPUs per trial, fractions allowed (default 0)")
    res.add_argument("--max-concurrent", type=positive_int, help="at most this many trials at once (default: as resources allow)")
    res.add_argument("--max-failures", type=nonnegative_int, default=1,
                     help="restart a failed trial from its last checkpoint up to N times, e.g. on lost (spot) nodes "
                          "(default 1)")
    res.add_argument("--pack", default="auto",
                     help="train K configs together in one trial (stacked weights, tune_mnist.packed): a number, "
                          "or auto = 64 on GPU trials and 1 (no packing) on CPU; list spaces only (default auto)")
    res.add_argument("--address", help="an existing Ray cluster (auto, HOST:PORT, ray://...); RAY_ADDRESS works too")
    return parser.parse_args(argv)


# ---------------------------------------------------------------- checks before Ray starts

def check_options(args: argparse.Namespace) -> None:
    g = args.gpus_per_trial
    if not (g >= 0 and math.isfinite(g)) or (g > 1 and g != int(g)):
        raise InputError(f"--gpus-per-trial {g} is invalid: use 0, a fraction such as 0.25, or a whole number of GPUs.")
    if not 0 < args.min_accuracy < 1:
        raise InputError(f"--min-accuracy {args.min_accuracy} is invalid: use a fraction between 0 and 1, such as 0.90.")
    if args.pack != "auto" and not (args.pack.isdigit() and int(args.pack) >= 1):
        raise InputError(f"--pack {args.pack} is invalid: use a positive number of configs per trial, or auto.")
    if args.resume and not args.name:
        raise InputError("--resume needs --name: pass the name of the experiment to continue.")


def space_configs(args: argparse.Namespace, module: Any) -> list[TrialConfig] | None:
    options = space_options(args)
    if hasattr(module, "configs"):
        return module.configs(options)
    if args.pack != "auto" and int(args.pack) > 1:
        raise InputError(f"--pack {args.pack} does not apply to the {args.space} space, which proposes one config "
                         "at a time: drop --pack.")
    return None


def space_options(args: argparse.Namespace) -> SpaceOptions:
    return SpaceOptions(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, num_samples=args.num_samples,
                        seeds=args.seeds, search_seed=args.search_seed, min_accuracy=args.min_accuracy)


def print_configs(configs: list[TrialConfig]) -> None:
    print(f"{len(configs)} configs:")
    head = f"{'#':>3} {'input':<18} {'depth':>5} {'width':>5} {'lr':>8} {'batch':>5} {'epochs':>6} {'seed':>4} " \
           f"{'params':>11} {'FLOPs':>12}"
    print(head)
    for i, c in enumerate(configs):
        print(f"{i:>3} {c.input_spec:<18} {c.depth:>5} {c.width:>5} {c.lr:>8.2g} {c.batch_size:>5} {c.epochs:>6} "
              f"{c.seed:>4} {mlp_params(c.in_features, c.depth, c.width):>11,} "
              f"{mlp_flops(c.in_features, c.depth, c.width):>12,}")


# ---------------------------------------------------------------- running

def prepare_data(args: argparse.Namespace, module: Any) -> Splits:
    n = args.subset if args.subset is not None else getattr(module, "DEFAULT_SUBSET", None)
    args.subset = n or None
    splits = split_validation(load_data(args), args.validation_size, args.split_seed)
    return subset(splits, args.subset, args.split_seed)


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
    from tune_mnist.packed import plan_packs

    k = pack_size(args)
    if k == 1:
        return [{**configs[i].to_dict(), **run_constants(args)} for (i,) in plan_packs(configs, 1)]
    return [{MEMBERS: [configs[i].to_dict() for i in pack], **run_constants(args)}
            for pack in plan_packs(configs, k)]


def run_constants(args: argparse.Namespace) -> dict[str, Any]:
    """Recorded in every trial's params.json beside the config, so a trial says what data it saw."""
    return {"validation_size": args.validation_size, "split_seed": args.split_seed, "subset": args.subset,
            "min_accuracy": args.min_accuracy}


def trial_dirname(trial: Any) -> str:
    c = trial.config
    if MEMBERS in c:
        return f"{trial.trial_id}_pack{len(c[MEMBERS])}"
    if pack_members(c):
        return f"{trial.trial_id}_{config_label(c, '_')}_seeds{c[PACK_SEEDS]}"
    return f"{trial.trial_id}_{config_label(c, '_')}"


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail in seconds, not after Ray's minutes of retries, when HOST:PORT does not answer."""
    import socket

    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return  # auto, ray://...: Ray itself reports these quickly
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise InputError(f"Cannot reach the Ray cluster at {address} ({exc.strerror or exc}): check the address "
                         "(the head's IP and GCS port, 6379 by default) and that `ray start --head` runs there.") from None


def start_ray(address: str | None, cpus_per_trial: float, gpus_per_trial: float, storage: str,
              shared_storage: bool) -> None:
    """Connect to ``address`` (no resource arguments: Ray rejects them there), reuse a Ray already
    started in this process, or start a local one sized to this machine; then check that the
    trials fit and that every node can write to the storage."""
    import ray

    if not ray.is_initialized():
        if address:
            check_reachable(address)
            try:
                ray.init(address=address)
            except Exception as exc:  # Ray raises ConnectionError, RuntimeError or its own types here
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise InputError(f"Cannot connect to the Ray cluster at {address} ({reason}): check that it runs "
                                 "(ray status on its head) and, as its nodes have, set RAY_AUTH_MODE=token and the "
                                 "token (RAY_AUTH_TOKEN or ~/.ray/auth_token).") from None
        else:
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False)
    resources = ray.cluster_resources()
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    cpus, gpus = resources.get("CPU", 0), resources.get("GPU", 0)
    print(f"Ray: {len(nodes)} node(s), {cpus:g} CPUs, {gpus:g} GPUs")
    for node in nodes:
        res = node.get("Resources", {})
        print(f"  node {node.get('NodeManagerAddress')} ({node.get('NodeID', '')[:8]}): "
              f"{res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs")
    check_shared(storage, len(nodes), shared_storage)
    # A trial runs on one node, so it must fit the largest node, not just the cluster's total.
    node_cpus = max((n.get("Resources", {}).get("CPU", 0) for n in nodes), default=0)
    node_gpus = max((n.get("Resources", {}).get("GPU", 0) for n in nodes), default=0)
    if cpus_per_trial > node_cpus:
        raise InputError(f"--cpus-per-trial {cpus_per_trial:g} is more than the {node_cpus:g} CPUs of the largest "
                         "Ray node: lower it.")
    if gpus_per_trial > node_gpus:
        raise InputError(f"--gpus-per-trial {gpus_per_trial:g} asks for more GPUs than the {node_gpus:g} of the "
                         "largest Ray node: drop it (CPU trials) or connect to a cluster with GPUs via --address.")


def build_tuner(args: argparse.Namespace, splits: Splits, points: list[dict[str, Any]] | None, module: Any,
                storage: str) -> Any:
    """A new Tuner over ``points`` (one trial each) or the space's adaptive searcher, or the restored one."""
    from ray import tune
    from ray.tune.search.basic_variant import BasicVariantGenerator

    packed = MEMBERS in points[0] if points is not None else args.seeds > 1
    if packed:
        from tune_mnist.pack_trainable import run_pack as function
        from tune_mnist.unpack import UnpackMembers

        callbacks = [UnpackMembers()]
        # TensorBoard cannot log the list of member rows; the rows reach result.json and the members.
        logging.getLogger("ray.tune.logger.tensorboardx").setLevel(logging.ERROR)
    else:
        from tune_mnist.trainable import run_trial as function

        callbacks = []
    resources = {"cpu": args.cpus_per_trial}
    if args.gpus_per_trial:
        resources["gpu"] = args.gpus_per_trial
    trainable = tune.with_resources(tune.with_parameters(function, data=splits), resources)
    run_config = tune.RunConfig(
        name=args.name, storage_path=storage,
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        failure_config=tune.FailureConfig(max_failures=args.max_failures), verbose=1, callbacks=callbacks)
    experiment = storage.rstrip("/") + "/" + args.name
    if args.resume:
        return tune.Tuner.restore(experiment, trainable=trainable, resume_errored=True)
    if points is not None and MEMBERS in points[0]:
        # Packs differ in length, which points_to_evaluate cannot express: grid over the member lists.
        search_alg = BasicVariantGenerator(max_concurrent=args.max_concurrent or 0)
        num_samples = 1
        param_space = {**run_constants(args), MEMBERS: tune.grid_search([p[MEMBERS] for p in points])}
    elif points is not None:
        search_alg = BasicVariantGenerator(points_to_evaluate=points, max_concurrent=args.max_concurrent or 0)
        # Every key a point sets must exist in the param space; the points fill in the values.
        num_samples, param_space = len(points), dict.fromkeys(points[0])
    else:
        from ray.tune.search import ConcurrencyLimiter

        adaptive = module.searcher(space_options(args))
        search_alg = adaptive.make_search_alg()
        if args.max_concurrent:
            search_alg = ConcurrencyLimiter(search_alg, max_concurrent=args.max_concurrent)
        num_samples, param_space = adaptive.num_samples, {**adaptive.param_space, **run_constants(args)}
        if args.seeds > 1:
            param_space[PACK_SEEDS] = args.seeds  # one trial per proposal, its seeds trained as a pack
    tune_config = tune.TuneConfig(search_alg=search_alg, num_samples=num_samples, reuse_actors=True,
                                  trial_dirname_creator=trial_dirname)
    return tune.Tuner(trainable, param_space=param_space, tune_config=tune_config, run_config=run_config)


def summarize(results: Any, args: argparse.Namespace, experiment: str, expected: int | None) -> int:
    """Counts, the best feasible trial per objective, where the results are and what to run next."""
    finished, failed, unfinished, rows = 0, 0, 0, []
    for result in results:
        config, metrics = result.config or {}, result.metrics or {}
        configs = pack_members(config) or [config]
        member_rows = metrics.get(MEMBERS) or [metrics] * len(configs)
        for member, row in zip(configs, member_rows):
            if result.error is not None:
                failed += 1
            elif row.get("epoch") is not None and row.get("epoch") == member.get("epochs"):
                finished += 1
                rows.append(row)
            else:
                unfinished += 1
    if expected is not None:
        unfinished += max(0, expected - finished - failed - unfinished)
    print(f"\n{finished} trials finished, {failed} failed, {unfinished} not finished"
          + (f" (configs, trained in packs of up to {pack_size(args)})." if pack_size(args) > 1 else
             f" (configs: each proposal's {args.seeds} seeds trained together)." if expected is None and args.seeds > 1
             else "."))
    feasible = [r for r in rows if r.get("val_acc", math.nan) > args.min_accuracy]
    for metric, mode in OBJECTIVES:
        if feasible:
            pick = (max if mode == "max" else min)(feasible, key=lambda r: r[metric])
            print(f"  best by {metric} ({mode}) among val_acc > {args.min_accuracy:g}: {pick['architecture']} "
                  f"{pick['input_spec']}: val_acc {pick['val_acc']:.4f}, test_acc {pick['test_acc']:.4f}, "
                  f"FLOPs {pick['flops']:,}, latency p50 {pick['latency_p50_us']:.1f} us")
    if rows and not feasible:
        print(f"  no finished trial reached val_acc > {args.min_accuracy:g}.")
    print(f"Results: {experiment}")
    if failed or unfinished:
        print(f"Continue it (finished trials are kept): python -m tune_mnist.search --resume --name {args.name} "
              f"--storage-path {args.storage_path}")
    print(f"Next: python -m analysis.pareto {experiment}")
    return 0 if not failed and not unfinished else 1


def run(args: argparse.Namespace) -> int:
    check_options(args)
    storage = storage_root(args.storage_path)
    args.storage_path = storage
    experiment = f"{storage.rstrip('/')}/{args.name}" if args.name else None
    if args.resume:
        saved = resume_options(experiment)
        for key, value in saved.items():
            setattr(args, key, value)
        args.resume = True
    module = search_spaces.load(args.space)
    configs = space_configs(args, module)
    if args.dry_run:
        if configs is None:
            seeds = f", each trained over {args.seeds} seeds in one trial" if args.seeds > 1 else ""
            print(f"The {args.space} space proposes configs as it learns{seeds}; nothing to list before it runs.")
        else:
            print_configs(configs)
            import torch

            resolve_pack(args, configs, torch.cuda.device_count())  # as a local run would see it
            if pack_size(args) > 1:  # the plan trial_points turns into trials
                from tune_mnist.packed import own_params, padded_params, plan_packs

                packs = [[configs[i] for i in pack] for pack in plan_packs(configs, pack_size(args))]
                padded = sum(padded_params(pack) for pack in packs) / own_params(configs)
                print(f"in {len(packs)} packs (one trial each, heaviest first) of sizes "
                      f"{', '.join(str(len(pack)) for pack in packs)}; padding to each pack's largest shape trains "
                      f"{padded:.2f}x the configs' own parameters")
        return 0
    if not args.resume:
        args.name = args.name or f"{args.space}-{time.strftime('%Y%m%d-%H%M%S')}"
        experiment = f"{storage.rstrip('/')}/{args.name}"
        if exists(experiment):
            raise InputError(f"Experiment {experiment} already exists: pass --resume to continue it "
                             "or another --name.")
    splits = prepare_data(args, module)
    return run_tuner(args, splits, configs, module, experiment)


def run_tuner(args: argparse.Namespace, splits: Splits, configs: list[TrialConfig] | None, module: Any,
              experiment: str) -> int:
    import ray

    started = not ray.is_initialized()
    try:
        start_ray(args.address or os.environ.get("RAY_ADDRESS"), args.cpus_per_trial, args.gpus_per_trial,
                  args.storage_path, args.shared_storage)
        points = None
        if configs is not None:
            resolve_pack(args, configs, ray.cluster_resources().get("GPU", 0))
            points = trial_points(configs, args)
        tuner = build_tuner(args, splits, points, module, args.storage_path)
        if not args.resume:
            save_run_options(experiment, args)
        results = tuner.fit()
        expected = None if points is None else sum(len(p.get(MEMBERS, [p])) for p in points)
        return summarize(results, args, experiment, expected)
    finally:
        if started:  # a Ray this call started (or connected to) is left as it was found
            ray.shutdown()


RESUMED_OPTIONS = ("space", "shared_storage", "pack", "num_samples", "seeds", "search_seed", "epochs", "batch_size", "lr", "min_accuracy",
                   "data_dir", "train_csv", "test_csv", "download", "validation_size", "split_seed", "subset",
                   "cpus_per_trial", "gpus_per_trial", "max_concurrent", "max_failures")


def save_run_options(experiment: str, args: argparse.Namespace) -> None:
    options = {key: getattr(args, key) for key in RESUMED_OPTIONS}
    write_text(f"{experiment}/{RUN_FILE}", json.dumps(options, indent=2) + "\n")


def resume_options(experiment: str) -> dict[str, Any]:
    """The options the experiment was started with, so that --resume rebuilds the same data and trials."""
    from ray import tune

    if not exists(experiment):
        raise InputError(f"There is no experiment {experiment} to resume: check --name and --storage-path.")
    if not tune.Tuner.can_restore(experiment):
        raise InputError(f"{experiment} holds no resumable Ray Tune experiment (it was never started): "
                         "run it again without --resume under a new --name.")
    text = read_text(f"{experiment}/{RUN_FILE}")
    return json.loads(text) if text else {}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return exit_status(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
