"""Turn pack trials into ordinary trial directories, one per config, as their results arrive.

A Tune callback on the driver: for each report of a pack trial it writes, beside the pack's own
directory in the experiment, ``<pack trial id>_m<i>_<label>/`` with ``params.json`` (the member's
flat config), ``result.json`` (its rows, with Ray's bookkeeping fields copied from the pack's
report) and, after each checkpoint, ``checkpoint_NNNNNN/`` with the member's model (``model.pt``,
``config.json``; the optimizer state stays in the pack's own checkpoint, which is what resumes). It goes
through Ray's storage filesystem, so cloud URIs work as local paths do. The pack's own directory
keeps ``"members"`` in its params.json; the analysis reads member directories
and skips packs."""

from __future__ import annotations

import json
from typing import Any

import pyarrow.fs as pafs
from ray import tune

from tune_mnist.core.config import PACK_MEMBERS, pack_members
from tune_mnist.core.layout import (
    CONFIG_FILE,
    ERROR_FILE,
    MODEL_FILE,
    PARAMS_FILE,
    RAY_FIELDS_COPIED_TO_MEMBERS,
    RESULT_FILE,
    STOPPED_BY_BUDGET_FILE,
    STOPPED_EARLY_FILE,
    checkpoint_member_dir,
    member_trial_dir,
    member_trial_id,
)
from tune_mnist.core.metrics import EPOCH, STOPPED_BY_BUDGET, STOPPED_MEMBERS
from tune_mnist.core.result_rows import parse_result_rows
from tune_mnist.model.saved import jsonable
from tune_mnist.trainables.checkpoints import keep_only


def _write_params(fs: pafs.FileSystem, path: str, config: dict[str, Any]) -> None:
    """A member's params.json, written once (a restarted pack keeps the first)."""
    fs.create_dir(path, recursive=True)
    params = f"{path}/{PARAMS_FILE}"
    if fs.get_file_info(params).type == pafs.FileType.NotFound:
        with fs.open_output_stream(params) as out:
            out.write(json.dumps(config, indent=2).encode())


class UnpackMembers(tune.Callback):
    """Write one trial directory per pack member (see the module docstring)."""

    def _dirs(self, trial: Any) -> tuple[pafs.FileSystem, list[str], list[dict[str, Any]]]:
        storage = trial.storage
        fs, root = storage.storage_filesystem, storage.experiment_fs_path
        members = pack_members(trial.config) or []
        dirs = [f"{root}/{member_trial_dir(trial.trial_id, i, m)}" for i, m in enumerate(members)]
        return fs, dirs, members

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if pack_members(trial.config) is None or PACK_MEMBERS not in result:
            return
        fs, dirs, members = self._dirs(trial)
        bookkeeping = {k: result[k] for k in RAY_FIELDS_COPIED_TO_MEMBERS if k in result}
        stopped_now = result.get(STOPPED_MEMBERS) or {}
        for i, (path, config, row) in enumerate(zip(dirs, members, result[PACK_MEMBERS])):
            if row.get(EPOCH) != result.get(EPOCH, row.get(EPOCH)):
                continue  # stopped early at an earlier epoch: its rows ended there, as a single trial's do
            _write_params(fs, path, config)
            rows = read_rows(fs, f"{path}/{RESULT_FILE}")
            # A restarted pack reports again from its checkpoint's epoch on: keep one row per epoch.
            rows = [r for r in rows if r.get(EPOCH, 0) < row[EPOCH]]
            rows.append(
                {
                    **row,
                    **bookkeeping,
                    "trial_id": member_trial_id(trial.trial_id, i),
                    "config": config,
                    "done": row[EPOCH] == config.get("epochs"),
                }
            )
            with fs.open_output_stream(f"{path}/{RESULT_FILE}") as out:
                lines = [json.dumps({k: jsonable(v) for k, v in r.items()}) for r in rows]
                out.write(("\n".join(lines) + "\n").encode())
            if result.get(STOPPED_BY_BUDGET):  # what the scheduler writes for a trial the budget stops
                with fs.open_output_stream(f"{path}/{STOPPED_BY_BUDGET_FILE}") as out:
                    out.write(b'{"stopped_by_budget": true}\n')
            if str(i) in stopped_now:  # what the scheduler writes for a single trial it stops
                with fs.open_output_stream(f"{path}/{STOPPED_EARLY_FILE}") as out:
                    out.write((json.dumps(stopped_now[str(i)], indent=2) + "\n").encode())

    def on_checkpoint(self, iteration: int, trials: list, trial: Any, checkpoint: Any, **info: Any) -> None:
        if pack_members(trial.config) is None:
            return
        fs, dirs, _ = self._dirs(trial)
        name = checkpoint.path.rstrip("/").rsplit("/", 1)[-1]
        for i, path in enumerate(dirs):
            source = f"{checkpoint.path}/{checkpoint_member_dir(i)}"
            if checkpoint.filesystem.get_file_info(source).type == pafs.FileType.NotFound:
                continue  # a member stopped early keeps the checkpoint of its last epoch
            fs.create_dir(f"{path}/{name}", recursive=True)
            for file in (MODEL_FILE, CONFIG_FILE):  # the model; the pack's own checkpoint is what resumes
                pafs.copy_files(
                    f"{checkpoint.path}/{checkpoint_member_dir(i)}/{file}",
                    f"{path}/{name}/{file}",
                    source_filesystem=checkpoint.filesystem,
                    destination_filesystem=fs,
                )
            keep_only(fs, f"{path}/{name}")  # the latest only, as a single trial keeps

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if pack_members(trial.config) is None:
            return
        fs, dirs, members = self._dirs(trial)
        message = f"Pack trial {trial.trial_id}, which trained this config with {len(dirs) - 1} others, failed."
        error = getattr(trial, "error_file", None)
        for path, config in zip(dirs, members):
            _write_params(fs, path, config)
            with fs.open_output_stream(f"{path}/{ERROR_FILE}") as out:
                out.write(f"{message}\n{error or ''}\n".encode())


def read_rows(fs: pafs.FileSystem, path: str) -> list[dict[str, Any]]:
    """The rows of a ``result.json`` on ``fs`` (none where it is missing), by ``tune_mnist.core.result_rows``'
    rule: a half-written last line is skipped, a bad line before it raises ``CorruptResultFile``."""
    if fs.get_file_info(path).type == pafs.FileType.NotFound:
        return []
    with fs.open_input_stream(path) as stream:
        text = stream.read().decode()
    return parse_result_rows(text, path).rows
