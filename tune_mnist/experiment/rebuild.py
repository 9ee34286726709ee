"""Resume an experiment whose Ray state files are damaged, from its trial directories.

A disk that fills while Ray rewrites its state leaves ``experiment_state-*.json`` cut short or
``basic-variant-state-*.json`` empty, and ``Tuner.restore`` then fails (in Ray's variant generator,
long after the cause). Before a ``--resume`` the search calls ``check_state``: every Ray state file is
parsed without running it (JSON for the experiment state, ``pickletools`` for pickles), and the
newest session must have its experiment state, its search state and ``tuner.pkl`` intact. When it
does not, ``set_aside`` renames every Ray state file (``.damaged`` when unreadable, ``.replaced``
when intact but from a state that can no longer be trusted; nothing is deleted), and the search
starts a fresh Tuner under the same name and storage path over what is left to do:

- list spaces: the configs from the saved run options that have no finished trial directory
  (``finished_configs``); a finished config is never trained again, unfinished ones start over;
- adaptive: a new searcher for the samples not yet finished (it loads the Optuna study that
  ``optuna.journal`` keeps, where there is one; else its learning restarts).

Ray writes each run's state under a new session name and gives each new trial a new id, so the new
trials sit beside the old ones and a later ``--resume`` restores the newest state as usual. The old
directories the new trials replace (unfinished ones, with their checkpoints) are removed first
(``remove_replaced``): they hold nothing the experiment still needs, and their space is what a storage
that filled up lacks."""

from __future__ import annotations

import fnmatch
import json
import pickletools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow.fs as pafs

from tune_mnist.core.config import PACK_MEMBERS, PACK_SEEDS, TrialConfig, pack_members
from tune_mnist.core.layout import EXPERIMENT_STATE_PREFIX, PARAMS_FILE, RESULT_FILE, STOPPED_EARLY_FILE, TRIAL_ID
from tune_mnist.experiment.storage import RUN_FILE, Location

EXPERIMENT_STATE = EXPERIMENT_STATE_PREFIX + "{}.json"
SEARCH_STATES = ("basic-variant-state-{}.json", "search_gen_state-{}.json")
SEARCHER_STATE = "searcher-state-{}.pkl"
TUNER_PKL = "tuner.pkl"
STATE_PATTERNS = (
    EXPERIMENT_STATE.format("*"),
    *(p.format("*") for p in SEARCH_STATES),
    SEARCHER_STATE.format("*"),
    TUNER_PKL,
)
DAMAGED, REPLACED = ".damaged", ".replaced"


@dataclass
class StateCheck:
    """What ``check_state`` found: the damaged files, and whether Ray's state must be rebuilt."""

    damaged: dict[str, str] = field(default_factory=dict)  # file name -> why
    rebuild_reason: str | None = None
    state_files: list[str] = field(default_factory=list)

    @property
    def rebuild(self) -> bool:
        return self.rebuild_reason is not None


def pickle_problem(data: bytes) -> str | None:
    """Why ``data`` is not a whole pickle (empty, cut short, garbage), else None; nothing is unpickled."""
    if not data:
        return "empty"
    try:
        ops = list(pickletools.genops(data))
    except Exception as exc:  # noqa: BLE001 - genops raises ValueError on truncation and others on garbage
        return f"not a whole pickle ({exc})"
    return None if ops and ops[-1][0].name == "STOP" else "not a whole pickle (no STOP)"


def experiment_state_problem(data: bytes) -> str | None:
    if not data:
        return "empty"
    try:
        state = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return f"not JSON ({len(data)} bytes, cut short? {exc.args[0] if exc.args else exc})"
    if not isinstance(state, dict) or not isinstance(state.get("trial_data"), list) or "runner_data" not in state:
        return "not a Ray experiment state (no trial_data or runner_data)"
    return None


def _problem(name: str, data: bytes) -> str | None:
    if fnmatch.fnmatch(name, EXPERIMENT_STATE.format("*")):
        return experiment_state_problem(data)
    return pickle_problem(data)  # the search states are cloudpickles whatever their suffix


def _names(loc: Location) -> dict[str, pafs.FileInfo]:
    return {i.base_name: i for i in loc.children()}


def state_files(names: Iterable[str]) -> list[str]:
    return sorted(n for n in names if any(fnmatch.fnmatch(n, p) for p in STATE_PATTERNS))


def check_state(experiment: str) -> StateCheck:
    """Parse every Ray state file of ``experiment`` and decide whether ``Tuner.restore`` can be trusted."""
    loc = Location(experiment)
    names = _names(loc)
    files = state_files(names)
    check = StateCheck(state_files=files)
    for name in files:
        try:
            with loc.fs.open_input_stream(loc.join(name)) as stream:
                data = stream.read()
        except OSError as exc:
            check.damaged[name] = f"unreadable ({exc})"
            continue
        problem = _problem(name, data)
        if problem:
            check.damaged[name] = problem
    states = [n for n in files if fnmatch.fnmatch(n, EXPERIMENT_STATE.format("*"))]
    if not states:
        if trial_dirs(loc):
            check.rebuild_reason = "Ray never saved its experiment state"
        return check
    newest = max(states)  # Ray restores the newest by name (its session's start time)
    session = newest[len("experiment_state-") : -len(".json")]
    search = [p.format(session) for p in SEARCH_STATES if p.format(session) in names]
    searcher = SEARCHER_STATE.format(session)
    for name, why in [
        (newest, "its newest experiment state"),
        (TUNER_PKL, "tuner.pkl"),
        *((n, "its search state") for n in search),
        *(((searcher, "its searcher state"),) if searcher in names else ()),
    ]:
        if name not in names:
            check.rebuild_reason = f"{why} ({name}) is missing"
        elif name in check.damaged:
            check.rebuild_reason = f"{why} ({name}) is {check.damaged[name]}"
        if check.rebuild_reason:
            return check
    if not search:
        check.rebuild_reason = f"the search state of its newest session ({session}) is missing"
    return check


def set_aside(experiment: str, check: StateCheck) -> list[str]:
    """Rename damaged state files (all Ray state files when rebuilding); returns the new names."""
    loc = Location(experiment)
    moved = []
    for name in check.state_files:
        if name not in check.damaged and not check.rebuild:
            continue
        suffix = DAMAGED if name in check.damaged else REPLACED
        target, n = name + suffix, 1
        while loc.kind(loc.join(target)) != pafs.FileType.NotFound:
            n += 1
            target = f"{name}{suffix}{n}"
        loc.fs.move(loc.join(name), loc.join(target))
        moved.append(target)
    return moved


# ---------------------------------------------------------------- what the trial directories hold


def trial_dirs(loc: Location) -> list[pafs.FileInfo]:
    return [
        i
        for i in loc.children()
        if i.type == pafs.FileType.Directory and loc.kind(loc.join(i.base_name, PARAMS_FILE)) == pafs.FileType.File
    ]


def is_member_dir(name: str) -> bool:
    """A pack member's trial directory (``tune_mnist.trainables.unpack``), by the ``_m<index>`` after its trial id."""
    match = TRIAL_ID.match(name)
    return bool(match and match.group(2))


def _read_json(loc: Location, path: str) -> Any:
    try:
        return json.loads(loc.read_text(path))
    except (OSError, json.JSONDecodeError):
        return None


def last_epoch(loc: Location, directory: str) -> int:
    """The highest epoch in a trial's result.json (0 when none); a half-written line is ignored."""
    try:
        text = loc.read_text(f"{directory}/{RESULT_FILE}")
    except (OSError, FileNotFoundError):
        return 0
    best = 0
    for line in text.splitlines():
        try:
            row = json.loads(line)
            best = max(best, int(row.get("epoch") or 0))
        except (json.JSONDecodeError, TypeError, ValueError, AttributeError):
            continue
    return best


def config_key(params: dict[str, Any]) -> str:
    """One string per config (the TrialConfig fields, normalised), so a config is recognised across runs."""
    return json.dumps(TrialConfig.from_dict(params).to_dict(), sort_keys=True)


def finished_configs(experiment: str) -> dict[str, str]:
    """Config key -> the directory that finished it, over every flat trial directory (pack members included)."""
    done: dict[str, str] = {}
    for key, name in finished_dirs(experiment):
        done.setdefault(key, name)
    return done


def finished_dirs(experiment: str) -> list[tuple[str, str]]:
    """(config key, directory) of every flat trial directory that finished its config: its last epoch,
    or stopped early by the scheduler (``stopped_early.json``)."""
    loc = Location(experiment)
    done: list[tuple[str, str]] = []
    for info in trial_dirs(loc):
        params = _read_json(loc, f"{info.path}/{PARAMS_FILE}")
        if not isinstance(params, dict) or PACK_MEMBERS in params or PACK_SEEDS in params:
            continue
        try:
            key, epochs = config_key(params), int(params["epochs"])
        except (KeyError, TypeError, ValueError):
            continue
        # Stopped early by the scheduler: done, as Ray's own resume keeps it (its searcher was told).
        stopped = loc.kind(loc.join(info.base_name, STOPPED_EARLY_FILE)) == pafs.FileType.File
        if stopped or last_epoch(loc, info.path) >= epochs:
            done.append((key, info.base_name))
    return done


def finished_proposals(experiment: str) -> int:
    """Finished trials of an adaptive search (a seed pack counts once; its member directories do not)."""
    loc = Location(experiment)
    count = 0
    for info in trial_dirs(loc):
        params = _read_json(loc, f"{info.path}/{PARAMS_FILE}")
        if not isinstance(params, dict) or PACK_MEMBERS in params or is_member_dir(info.base_name):
            continue
        epochs = params.get("epochs")
        if isinstance(epochs, (int, float)) and last_epoch(loc, info.path) >= int(epochs):
            count += 1
    return count


def remaining(configs: list[TrialConfig], finished: dict[str, str]) -> list[TrialConfig]:
    """The configs still to train, in the space's order."""
    return [c for c in configs if config_key(c.to_dict()) not in finished]


def has_run_options(experiment: str) -> bool:
    loc = Location(experiment)
    return loc.kind(loc.join(RUN_FILE)) == pafs.FileType.File


# ---------------------------------------------------------------- after the rebuild: the replaced directories


def replaced_dirs(experiment: str) -> list[pafs.FileInfo]:
    """The trial directories of the damaged run that a rebuilt trial replaces: every one that did not
    finish its config (unfinished, errored, files cut to nothing),
    and packs with a member left to train. A rebuild starts those configs over in new directories."""
    loc = Location(experiment)
    finished = finished_configs(experiment)
    keep = {name for _, name in finished_dirs(experiment)}  # every directory that finished its config
    out = []
    for info in loc.children():
        if info.type != pafs.FileType.Directory or not TRIAL_ID.match(info.base_name) or info.base_name in keep:
            continue
        params = _read_json(loc, f"{info.path}/{PARAMS_FILE}")
        if isinstance(params, dict) and (PACK_MEMBERS in params or PACK_SEEDS in params):
            members = pack_members(params) or []
            try:
                if members and all(config_key(m) in finished for m in members):
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
