"""Latency measured again, alone: the trials timed their models while other trials shared the machine;
here the front's models (and the layer behind it) are timed one after another at a fixed thread count,
in rounds that each visit them in a new order, so that a slow moment is spread over all of them."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np
import pandas as pd
import torch

from analysis.front import Front, compute_front
from analysis.load import Experiment, local_checkpoint
from tune_mnist.core.errors import InputError
from tune_mnist.core.metrics import ENVIRONMENT, LATENCY_US
from tune_mnist.model.measure import measure_latency, named_device
from tune_mnist.model.saved import load_model


@dataclass
class Remeasured:
    table: pd.DataFrame  # one row per re-measured config: trial-time and re-measured latencies
    front: Front  # recomputed among the re-measured configs with the re-measured latencies
    rounds: int
    threads: int
    environment: dict
    note: str | None = None  # set when the re-measurement ran on another kind of device than the trials
    #: Other runtimes timed in the same rounds (``--runtime onnxruntime``), each with its own table and front.
    runtimes: dict[str, Remeasured] = field(default_factory=dict)


def candidates(front: Front, layers: int = 2) -> pd.DataFrame:
    """Feasible configs in the first ``layers`` Pareto layers (0: every ranked feasible config)."""
    ranked = front.table[front.table["pareto_rank"].notna()]
    if layers > 0:
        ranked = ranked[ranked["pareto_rank"] <= layers]
    return ranked


def remeasure_device(requested: str, trial_devices: list[str]) -> tuple[torch.device, str | None]:
    """The device to time on (``auto``: the trials' kind, CUDA or CPU, where this machine has it) and, where
    it is not the one the trials used, a sentence saying so."""
    ran_on_gpu = any(str(d).startswith("cuda") for d in trial_devices)
    if requested == "auto":
        device = torch.device("cuda:0" if ran_on_gpu and torch.cuda.is_available() else "cpu")
    else:
        device = named_device(requested)
        if device.type not in ("cpu", "cuda"):
            raise InputError(f"--device {requested} is not supported: use auto, cpu, cuda or cuda:N.")
    kinds = sorted({str(d).split(":")[0] for d in trial_devices if d})
    note = None
    if kinds and kinds != [device.type]:
        note = (
            f"The trials measured latency on {'/'.join(kinds)}; this re-measurement ran on {device.type}, "
            "so the two sets of numbers are not comparable (the re-measured front compares the models "
            "with each other fairly)."
        )
    return device, note


def remeasure(
    experiment: Experiment,
    front: Front,
    layers: int = 2,
    rounds: int = 5,
    threads: int = 1,
    progress: TextIO | None = None,
    calls: int = 200,
    device: str = "auto",
    runtime: str = "eager",
) -> Remeasured:
    """Time every candidate ``rounds`` times, each round in a new order (``progress``: a one-line display),
    the median the new number; another ``runtime`` times each model there too, right after its eager turn,
    into ``Remeasured.runtimes``."""
    from analysis.runtimes import check_runtime, timer

    chosen = candidates(front, layers)
    trials = {t.trial_id: t for t in experiment.usable()}
    devices = [d for value in chosen.get("device", pd.Series(dtype=str)).dropna() for d in str(value).split(";")]
    where, note = remeasure_device(device, devices)
    check_runtime(runtime, where)
    models = []
    with tempfile.TemporaryDirectory(prefix="pareto-remeasure-") as scratch:
        for index, row in chosen.iterrows():
            trial = trials[str(row["trial_ids"]).split(";")[0]]
            model, config, _ = load_model(local_checkpoint(experiment, trial, scratch), where)
            other = timer(runtime, model, config.in_features, threads)
            models.append((index, row["label"], trial, model, config.in_features, other))
    if not models:
        raise InputError("There is no config to re-measure: the front is empty.")
    samples: dict[int, list[dict]] = {index: [] for index, *_ in models}
    others: dict[int, list[dict]] = {index: [] for index, *_ in models}
    rng = np.random.default_rng(0)  # the same orders every time
    total, done = rounds * len(models), 0
    environment: dict = {}
    # Carriage-return updates only on a terminal; in a log, one plain line per round.
    live = progress is not None and hasattr(progress, "isatty") and progress.isatty()
    for round_number in range(1, rounds + 1):
        if progress is not None and not live:
            progress.write(f"re-measuring latency: round {round_number}/{rounds} ({len(models)} models)\n")
            progress.flush()
        for position in rng.permutation(len(models)):
            index, label, _, model, in_features, other = models[position]
            done += 1
            if live:
                progress.write(
                    f"\rre-measuring latency: round {round_number}/{rounds}, {done}/{total} ({label}){' ' * 20}"
                )
                progress.flush()
            result = measure_latency(model, in_features, threads=threads, calls=calls)
            samples[index].append(result)
            environment = {k: result[k] for k in ENVIRONMENT}
            if other is not None:
                others[index].append(other(calls))
    if live:
        progress.write("\n")
        progress.flush()
    threads = threads or torch.get_num_threads()
    eager = _summarise(chosen, models, samples, front, rounds, threads, environment, note)
    if runtime != "eager":
        other_env = {k: v for k, v in others[models[0][0]][-1].items() if not k.startswith("latency_")}
        eager.runtimes[runtime] = _summarise(chosen, models, others, front, rounds, threads, other_env, note)
    return eager


def _summarise(
    chosen: pd.DataFrame,
    models: list[tuple],
    samples: dict[int, list[dict]],
    front: Front,
    rounds: int,
    threads: int,
    environment: dict,
    note: str | None,
) -> Remeasured:
    """Median, min and max over rounds per config, beside its trial-time number, and the front recomputed."""
    rows = []
    for index, label, trial, *_ in models:
        row = {"label": label, "trial_id": trial.trial_id, "trial_dir": trial.name}
        for key in LATENCY_US:
            values = np.array([s[key] for s in samples[index]])
            row[f"trial_{key}"] = chosen.loc[index].get(key, np.nan)
            row[key] = float(np.median(values))
            row[f"{key}_min"], row[f"{key}_max"] = float(values.min()), float(values.max())
        row.update({"rounds": rounds, **environment})
        rows.append(row)
    table = pd.DataFrame(rows, index=[index for index, *_ in models])
    updated = chosen.copy()
    for key in LATENCY_US:
        updated[key] = table[key]
    updated = updated.drop(columns=["feasible", "pareto_rank", "on_front"])
    again = compute_front(
        updated,
        front.objectives,
        front.min_accuracy,
        reference=dict(zip([o.name for o in front.objectives], front.reference)),
    )
    again.reference_source = front.reference_source
    return Remeasured(table.reset_index(drop=True), again, rounds, threads, environment, note)
