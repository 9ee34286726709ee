"""``--resume`` from the experiment directory alone (docs/robustness.md): a config finished when its rows
reach its last epoch or the scheduler stopped it; Ray's state files are never read, so every resume
starts a fresh Tuner over what is left (``prepare_resume``). An unfinished config starts over: its
directory is removed first (``remove_replaced``), as it holds no result and its space may be needed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow.fs as pafs

from tune_mnist.core.config import CONFIRM_ROUND, PACK_MEMBERS, TrialConfig, config_key, pack_members
from tune_mnist.core.layout import CONFIRM_FILE, PARAMS_FILE, RESULT_FILE, STOPPED_EARLY_FILE, STUDY_FILE, TRIAL_ID
from tune_mnist.core.metrics import EPOCH
from tune_mnist.core.options import SearchOptions
from tune_mnist.core.result_rows import parse_result_rows
from tune_mnist.experiment.storage import Location, exists, write_text


@dataclass(frozen=True)
class FinishedTrial:
    """A flat trial directory that finished its config: its name, its params and its last row."""

    name: str
    params: dict[str, Any]
    row: dict[str, Any]


def last_row(loc: Location, directory: str) -> dict[str, Any]:
    """The row with the highest epoch in a trial's result.json (empty when none), read by the one
    reader (``core.result_rows``: a half-written last line, what a full disk leaves, is skipped)."""
    path = f"{directory}/{RESULT_FILE}"
    try:
        text = loc.read_text(path)
    except (OSError, FileNotFoundError):
        return {}
    rows = parse_result_rows(text, path).rows
    return max(rows, key=lambda row: int(row.get(EPOCH) or 0), default={})


def finished_trials(experiment: str) -> list[FinishedTrial]:
    """Every flat trial directory (pack members included, packs not) that finished its config: its last
    epoch, or stopped early by the scheduler (``stopped_early.json``: done, its searcher was told)."""
    loc = Location(experiment)
    done: list[FinishedTrial] = []
    for info in loc.children():
        params = loc.read_json(f"{info.path}/{PARAMS_FILE}") if info.type == pafs.FileType.Directory else None
        if params is None or PACK_MEMBERS in params:
            continue
        try:
            config_key(params, seed=True)
            epochs = int(params["epochs"])
        except (KeyError, TypeError, ValueError):
            continue
        row = last_row(loc, info.path)
        stopped = loc.kind(loc.join(info.base_name, STOPPED_EARLY_FILE)) == pafs.FileType.File
        if stopped or int(row.get("epoch") or 0) >= epochs:
            done.append(FinishedTrial(info.base_name, params, row))
    return done


def finished_configs(experiment: str) -> set[str]:
    """The keys (seed included) of the configs the experiment has finished."""
    return {config_key(trial.params, seed=True) for trial in finished_trials(experiment)}


def finished_proposals(experiment: str) -> int:
    """Finished proposals of an adaptive search: the distinct configs, seeds aside, of the finished trial
    directories (a proposal trained over K seeds in a pack counts once), confirmation trials aside."""
    proposals = set()
    for trial in finished_trials(experiment):
        if trial.params.get(CONFIRM_ROUND) is None:
            config = TrialConfig.from_dict(trial.params).to_dict()
            config.pop("seed", None)
            proposals.add(json.dumps(config, sort_keys=True))
    return len(proposals)


def replaced_dirs(experiment: str) -> list[pafs.FileInfo]:
    """The trial directories a resume trains again in new ones: every one that did not finish its config
    (unfinished, errored, stopped by a budget, cut to nothing), and packs with a member left to train."""
    loc = Location(experiment)
    finished = finished_configs(experiment)
    keep = {trial.name for trial in finished_trials(experiment)}  # every directory that finished its config
    out = []
    for info in loc.children():
        if info.type != pafs.FileType.Directory or not TRIAL_ID.match(info.base_name) or info.base_name in keep:
            continue
        params = loc.read_json(f"{info.path}/{PARAMS_FILE}")
        if params is not None and PACK_MEMBERS in params:
            members = pack_members(params) or []
            try:
                if members and all(config_key(m, seed=True) in finished for m in members):
                    continue  # every member finished: the pack was done
            except (KeyError, TypeError, ValueError):
                pass
        out.append(info)
    return out


def remove_replaced(experiment: str) -> tuple[int, int]:
    """Delete ``replaced_dirs``; returns (directories, bytes) removed."""
    loc = Location(experiment)
    count = size = 0
    for info in replaced_dirs(experiment):
        try:
            files = loc.fs.get_file_info(pafs.FileSelector(info.path, recursive=True))
            size += sum(f.size or 0 for f in files if f.type == pafs.FileType.File)
            loc.fs.delete_dir(info.path)
            count += 1
        except OSError:
            continue  # left in place: the analysis lists it as superseded
    return count, size


def prepare_resume(
    options: SearchOptions, experiment: str, configs: list[TrialConfig] | None, *, default_samples: int
) -> tuple[SearchOptions, list[TrialConfig] | None, bool]:
    """Before ``--resume`` (the lock held): remove the directories of unfinished configs and work out what is
    left to train, the configs (list spaces) or ``num_samples`` (adaptive; ``default_samples`` where unset,
    unlimited under a ``--time-budget``). Returns (options, configs, nothing_left)."""
    removed, size = remove_replaced(experiment)
    if removed:
        print(
            f"Removed {removed} trial directories that did not finish their config ({size / 1e6:,.1f} MB): "
            "those configs start over in new directories."
        )
    stage_done = options.confirm <= 1 or (read_log(experiment) or {}).get("finished_at") is not None
    if configs is not None:
        finished = finished_configs(experiment)
        left = [c for c in configs if config_key(c.to_dict(), seed=True) not in finished]  # in the space's order
        kept = len(configs) - len(left)
        print(f"Resume: {kept} of {len(configs)} configs had finished and are kept; {len(left)} to train.")
        if not left and stage_done:
            print("Every config has finished: nothing to train.")
        return options, left, not left and stage_done
    done = finished_proposals(experiment)
    studied = exists(f"{experiment.rstrip('/')}/{STUDY_FILE}")
    how = "goes on from its Optuna study (optuna.journal)" if studied else "starts learning afresh"
    if options.time_budget and options.num_samples is None:  # unlimited: the budget ends the search
        print(f"Resume: {done} samples had finished and are kept; the adaptive searcher {how}.")
        return options, None, False
    total = options.num_samples or default_samples
    options = options.replace(num_samples=max(0, total - done))
    print(
        f"Resume: {done} of {total} samples had finished and are kept; the adaptive searcher {how} "
        f"for the other {options.num_samples}."
    )
    nothing_left = options.num_samples == 0 and stage_done
    if nothing_left:
        print("Every sample has finished: nothing to train.")
    return options, None, nothing_left


# ``confirmation.json``: what the confirmation stage decided, round by round, and when. A file, as the
# searcher lives inside the Tuner: the summary and ``--resume`` read it, and so can a reader of the experiment.


def write_log(experiment: str, log: dict[str, Any]) -> None:
    write_text(f"{experiment.rstrip('/')}/{CONFIRM_FILE}", json.dumps(log, indent=2) + "\n")


def read_log(experiment: str) -> dict[str, Any] | None:
    """The log, or None for an experiment without a confirmation stage (or one that never reached it)."""
    return Location(f"{experiment.rstrip('/')}/{CONFIRM_FILE}").read_json()
