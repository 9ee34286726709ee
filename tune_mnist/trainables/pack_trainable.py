"""The Ray Tune trainable for a pack: several configs trained together as one trial
(``tune_mnist.training.packed``), mostly to fill a GPU that one small MLP would leave idle.

Each epoch it reports ``{"epoch", "pack_size", "members": [one full row per config]}`` and a
checkpoint holding, per member, the same files a single trial's checkpoint has; a restarted pack
resumes from those (no second, padded copy of the pack is written). ``tune_mnist.trainables.unpack``
(a Tune callback on the driver) turns those into one ordinary trial directory per config, so nothing
downstream can tell packed from unpacked runs; the adaptive searches' seed means are the driver's
(``tune_mnist.strategies.pack_searcher``)."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray import tune

from tune_mnist.core.config import CONFIRM_ROUND, PACK_MEMBERS, TrialConfig, pack_members
from tune_mnist.core.layout import checkpoint_member_dir
from tune_mnist.core.metrics import EPOCH, PACK_SIZE, STOPPED_BY_BUDGET, STOPPED_MEMBERS
from tune_mnist.data.splits import Splits
from tune_mnist.trainables.trainable import (
    complete_row,
    run_trial,
    save_checkpoint,
    saved_state,
    start_trial,
)
from tune_mnist.training.packed.engine import train_packed
from tune_mnist.training.packed.state import PackState

#: In a pack checkpoint beside the members' directories: the members stopped early, their last rows,
#: and the seed-mean curves the stopping rule has seen (``tune_mnist.strategies.early_stopping.MemberStopping``).
STOPPED_FILE = "stopped_members.json"


def cannot_finish(
    last: dict[int, dict[str, Any]],
    active: list[int],
    stopped: set[int],
    epochs: int,
    deadline: float | None,
    config: dict[str, Any],
) -> bool:
    """Whether the members still training cannot reach their last epoch before the screening deadline,
    at their last epoch's pace (the engine's training time; evaluation is not counted, so this errs
    towards going on). Never a confirmation pack: it runs after screening, to its end."""
    training = [i for i in active if i not in stopped]
    if deadline is None or not training or config.get(CONFIRM_ROUND) is not None:
        return False
    row = last[training[0]]
    left = epochs - int(row[EPOCH])
    pace = float(row["epoch_time_s"]) * int(row[PACK_SIZE])  # per member -> the pack's epoch
    return left > 0 and time.time() + left * pace > deadline


def run_pack(
    config: dict[str, Any],
    data: Splits,
    stopping_rule: Callable[[list[TrialConfig], dict[str, Any]], Any],
    screening_deadline: float | None = None,
) -> None:
    """Train every config of ``config["members"]`` together and report each epoch.

    ``stopping_rule``: ``tune_mnist.strategies.early_stopping.MemberStopping``, handed down by the tuner
    (the trainables sit below the strategies). Under the bar scheduler a config whose seeds' mean
    cannot reach the bar stops: its members keep their last row and checkpoint, and the pack is
    rebuilt without them from the others' single-model states, which are exact, so every member trains
    on as it would alone. Each report carries every member's latest row; ``tune_mnist.trainables.unpack`` writes
    a row only for the members that trained this epoch.

    ``screening_deadline`` (epoch seconds; a ``--time-budget``'s end of screening): a screening pack
    whose remaining epochs, at its last epoch's training time, cannot end before it stops at once, as
    the budget would stop it later (``stopped_by_budget``): its work could never become a result, and
    its CPU goes to packs that can finish."""
    if pack_members(config) is None:  # a config that trains alone in a cost-planned list (tuning.trials)
        return run_trial(config, data)
    configs = [TrialConfig.from_dict(member) for member in pack_members(config)]
    device, gpu_ids, threads = start_trial()
    stopping = stopping_rule(configs, config)
    last: dict[int, dict[str, Any]] = {}  # member -> its latest row
    stopped: set[int] = set()
    states: dict[int, dict] = {}  # member -> its single-model state, to start the (re)built pack from
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:  # each member's own single-model checkpoint is the whole state
        with checkpoint.as_directory() as directory:
            saved_stops = Path(directory) / STOPPED_FILE
            if saved_stops.is_file():
                record = json.loads(saved_stops.read_text())
                last = {int(i): row for i, row in record["rows"].items()}
                stopped = set(last)
                stopping.curves = {int(g): {int(e): v for e, v in c.items()} for g, c in record["curves"].items()}
            for i in range(len(configs)):
                if i not in stopped:
                    states[i] = saved_state(Path(directory) / checkpoint_member_dir(i), device)
    active = [i for i in range(len(configs)) if i not in stopped]
    while active:
        state = PackState([configs[i] for i in active], device)
        for slot, i in enumerate(active):
            if i in states:
                state.load_member_state_dict(slot, states[i])
        stops: dict[int, Any] = {}
        late = False
        for rows in train_packed(state.configs, data, device, state=state, threads=threads):
            for i, row in zip(active, rows):
                last[i] = complete_row(row, config, gpu_ids)
            stops = stopping.after_epoch({i: last[i] for i in active})
            stopped |= set(stops)
            with tempfile.TemporaryDirectory() as directory:
                for slot, i in enumerate(active):
                    member = state.member_training_state(slot)
                    target = Path(directory) / checkpoint_member_dir(i)
                    save_checkpoint(target, member, configs[i], *state.scaling[slot], last[i])
                if stopped:
                    record = {"rows": {i: last[i] for i in sorted(stopped)}, "curves": stopping.curves}
                    (Path(directory) / STOPPED_FILE).write_text(json.dumps(record))
                every = [last[i] for i in range(len(configs))]
                report = {EPOCH: every[active[0]][EPOCH], PACK_SIZE: len(every), PACK_MEMBERS: every}
                if stops:
                    report[STOPPED_MEMBERS] = {str(i): json.loads(d.to_json()) for i, d in stops.items()}
                late = cannot_finish(last, active, stopped, configs[active[0]].epochs, screening_deadline, config)
                if late:
                    report[STOPPED_BY_BUDGET] = True
                tune.report(report, checkpoint=tune.Checkpoint.from_directory(directory))
            if late:
                return
            if stops:
                break  # rebuild the pack without the stopped configs
        else:
            return  # every member still training reached its last epoch
        states = {
            i: state.member_training_state(slot).state_dict() for slot, i in enumerate(active) if i not in stopped
        }
        active = [i for i in active if i not in stopped]
