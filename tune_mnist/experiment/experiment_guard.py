"""What the search CLI does to keep an experiment safe, in a few calls: hold it (one driver at a time,
``tune_mnist.experiment.driver_lock``), and before a ``--resume`` set damaged Ray state aside and plan the rebuild
from the trial directories (``tune_mnist.experiment.rebuild``). Storage failures during the run are
``tune_mnist.experiment.storage_guard``'s job."""

from __future__ import annotations

from tune_mnist.core.config import TrialConfig
from tune_mnist.core.layout import STUDY_FILE
from tune_mnist.core.options import SearchOptions
from tune_mnist.experiment.driver_lock import DriverLock
from tune_mnist.experiment.rebuild import (
    check_state,
    finished_configs,
    finished_proposals,
    has_run_options,
    remaining,
    remove_replaced,
    set_aside,
)
from tune_mnist.experiment.rebuild import trial_dirs as _trial_dirs
from tune_mnist.experiment.staged_copies import restore_cut_files
from tune_mnist.experiment.storage import Location, exists


def refuse_if_busy(experiment: str) -> None:
    """One sentence naming the live driver of ``experiment``, if there is one (reads only)."""
    DriverLock(experiment).check_free()


def hold(experiment: str, name: str) -> DriverLock:
    """Take the experiment for this driver (``with hold(...):``); a second driver is refused in one sentence."""
    return DriverLock(experiment, name)


def rebuildable(experiment: str) -> bool:
    """Whether the trial directories and saved run options allow a rebuild without Ray's state files."""
    return has_run_options(experiment) and bool(_trial_dirs(Location(experiment)))


def prepare_resume(
    options: SearchOptions, experiment: str, configs: list[TrialConfig] | None, *, default_samples: int
) -> tuple[SearchOptions, list[TrialConfig] | None, bool]:
    """Before ``--resume`` (with the lock held): set damaged Ray state files aside and, when Ray's state
    cannot be restored, turn the resume into a rebuild: the options' ``resume`` becomes False, ``rebuilt``
    True, and the configs (list spaces) or ``num_samples`` (adaptive; ``default_samples``, the
    space's, where it is unset) become what is left to train.
    Returns (options, configs, nothing_left)."""
    options = options.replace(rebuilt=False)
    restored = restore_cut_files(experiment)
    if restored:
        shown = ", ".join(restored[:3]) + (", ..." if len(restored) > 3 else "")
        print(
            f"Put back {len(restored)} trial file{'s' if len(restored) != 1 else ''} that the full storage had "
            "cut short, from this machine's "
            f"copies in Ray's staging directory: {shown}."
        )
    check = check_state(experiment)
    if not check.damaged and not check.rebuild:
        return options, configs, False
    moved = set_aside(experiment, check)
    if not check.rebuild:
        print(f"Set aside damaged Ray state files of older runs: {', '.join(moved)}.")
        return options, configs, False
    options = options.replace(resume=False, rebuilt=True)
    print(
        f"Ray's state of {experiment} cannot be restored ({check.rebuild_reason}): set aside as "
        f"{', '.join(moved) or 'nothing'}; rebuilding from the trial directories."
    )
    removed, size = remove_replaced(experiment)
    if removed:
        print(
            f"Removed {removed} trial directories of the damaged run that did not finish their config "
            f"({size / 1e6:,.1f} MB): the rebuild trains those configs again in new directories."
        )
    if configs is not None:
        left = remaining(configs, finished_configs(experiment))
        print(
            f"Rebuild: {len(configs) - len(left)} of {len(configs)} configs had finished and are kept; "
            f"{len(left)} to train (unfinished ones start over)."
        )
        if not left:
            print("Every config has finished: nothing to train.")
        return options, left, not left
    done = finished_proposals(experiment)
    total = options.num_samples or default_samples
    options = options.replace(num_samples=max(0, total - done))
    # The adaptive spaces' Optuna study (strategies.study_journal) survives: only Ray's state is set aside.
    studied = exists(f"{experiment.rstrip('/')}/{STUDY_FILE}")
    how = "goes on from its Optuna study (optuna.journal, which holds them)" if studied else "starts learning afresh"
    print(
        f"Rebuild: {done} of {total} samples had finished and are kept; the adaptive searcher {how} "
        f"for the other {options.num_samples}."
    )
    return options, None, options.num_samples == 0
