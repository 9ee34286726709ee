"""``--mlflow [URI]``: every trial of a search as an MLflow run, through Ray Tune's
``MLflowLoggerCallback`` (on the driver), in ``tune_mnist.extras.mlflow_store``'s store under the
experiment's name: one run per config with its params and every numeric metric at step = epoch; a
pack is a parent run with a child run per member (docs/tracking.md). A resumed search's trials are
new trials, so new runs beside the finished ones."""

from __future__ import annotations

import sys
from typing import Any

from ray.air.integrations.mlflow import MLflowLoggerCallback

from tune_mnist.core.config import PACK_MEMBERS, pack_members
from tune_mnist.core.layout import (
    RAY_FIELDS_DROPPED_ON_READ,
    RAY_FIELDS_NOT_AVERAGED,
    member_trial_dir,
    member_trial_id,
)
from tune_mnist.core.metrics import finite
from tune_mnist.extras.mlflow_store import experiment_id, tracking_uri

TRIAL_ID_TAG, TRIAL_DIR_TAG, PARENT_TAG = "tune_mnist.trial_id", "tune_mnist.trial_dir", "mlflow.parentRunId"
# Ray's bookkeeping that says nothing about the model; everything else numeric is logged.
SKIPPED = {PACK_MEMBERS, *RAY_FIELDS_DROPPED_ON_READ, *RAY_FIELDS_NOT_AVERAGED}
# Text a row carries that describes the model or where it ran: set once as run tags.
TAGGED = ("input_spec", "architecture", "device", "device_name", "torch_version", "node_ip")


def _numbers(row: dict[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in row.items():
        if key not in SKIPPED and finite(value):  # MLflow stores NaN, but a missing point reads better
            out[key] = float(value)
    return out


def _params(config: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in config.items() if not isinstance(v, (list, dict))}


class TrialRuns(MLflowLoggerCallback):
    """Ray Tune's MLflow logger callback with one run per config: the base class creates the runs; this one
    names and tags them, logs each epoch as one batch at step = epoch, and splits packs into member runs."""

    def __init__(self, uri: str, experiment_name: str, artifact_location: str | None = None) -> None:
        super().__init__(tracking_uri=uri, experiment_name=experiment_name)
        self.artifact_location = artifact_location
        self._members: dict[Any, list[str]] = {}
        self._tagged: set[str] = set()
        self._failed = False
        self._experiment_id = ""

    def setup(self, *args: Any, **kwargs: Any) -> None:
        # Created here, with the artifacts beside the store, before the base class looks it up by name.
        self._experiment_id = experiment_id(self.tracking_uri, self.experiment_name, self.artifact_location)
        super().setup(*args, **kwargs)

    def _client(self) -> Any:
        from mlflow.tracking import MlflowClient

        return MlflowClient(self.tracking_uri)

    def _run(self, name: str, trial_id: str, config: dict[str, Any], parent: str | None = None) -> str:
        """A new run tagged ``trial_id``, with ``config`` as params (a resumed search's trials are new trials)."""
        client = self._client()
        tags = {TRIAL_ID_TAG: trial_id, TRIAL_DIR_TAG: name, **(self.tags or {})}
        if parent is not None:
            tags[PARENT_TAG] = parent
        run_id = client.create_run(self._experiment_id, run_name=name, tags=tags).info.run_id
        from mlflow.entities import Param

        client.log_batch(run_id, params=[Param(k, v) for k, v in _params(config).items()])
        return run_id

    def on_trial_start(self, *args: Any, **kwargs: Any) -> None:
        self._safely(super().on_trial_start, *args, **kwargs)

    def on_trial_result(self, *args: Any, **kwargs: Any) -> None:
        self._safely(super().on_trial_result, *args, **kwargs)

    def on_trial_complete(self, *args: Any, **kwargs: Any) -> None:
        self._safely(super().on_trial_complete, *args, **kwargs)

    def on_trial_error(self, *args: Any, **kwargs: Any) -> None:
        self._safely(super().on_trial_error, *args, **kwargs)

    def _safely(self, call: Any, *args: Any, **kwargs: Any) -> None:
        """A tracking store that fails (a server gone, a locked database) must not stop the search:
        say so once on stderr and go on training; the trial directories hold every row regardless."""
        try:
            call(*args, **kwargs)
        except Exception as exc:  # MLflow raises its own types, requests', SQLAlchemy's
            if not self._failed:
                print(
                    f"warning: MLflow logging to {self.tracking_uri} failed ({type(exc).__name__}: "
                    f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}); the search goes on, "
                    "and its results are complete in the trial directories.",
                    file=sys.stderr,
                )
            self._failed = True

    def log_trial_start(self, trial: Any) -> None:
        if trial in self._trial_runs:
            return
        name = trial.storage.trial_dir_name or str(trial)
        config = dict(trial.config)
        members = pack_members(config)
        if members is not None:  # the pack's own params: what its members share, and how many there are
            config["pack_size"] = len(members)
        self._trial_runs[trial] = self._run(name, trial.trial_id, config)
        if members is not None:
            self._members[trial] = [
                self._run(
                    member_trial_dir(trial.trial_id, i, m),
                    member_trial_id(trial.trial_id, i),
                    m,
                    parent=self._trial_runs[trial],
                )
                for i, m in enumerate(members)
            ]

    def log_trial_result(self, iteration: int, trial: Any, result: dict[str, Any]) -> None:
        if trial not in self._trial_runs:
            self.log_trial_start(trial)
        step = int(result.get("epoch") or result.get("training_iteration") or iteration)
        self._log(self._trial_runs[trial], result, step)
        for run_id, row in zip(self._members.get(trial, []), result.get(PACK_MEMBERS) or []):
            self._log(run_id, row, step)

    def _log(self, run_id: str, row: dict[str, Any], step: int) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, step) for k, v in _numbers(row).items()]
        tags = []
        if run_id not in self._tagged:
            from mlflow.entities import RunTag

            self._tagged.add(run_id)
            tags = [RunTag(k, str(row[k])) for k in TAGGED if isinstance(row.get(k), str)]
        if metrics or tags:
            self._client().log_batch(run_id, metrics=metrics, tags=tags)

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        if trial not in self._trial_runs:
            return
        status = "FAILED" if failed else "FINISHED"
        client = self._client()
        for run_id in [*self._members.pop(trial, []), self._trial_runs.pop(trial)]:
            client.set_terminated(run_id, status=status)


def trial_callback(requested: str, experiment_dir: str, name: str) -> TrialRuns:
    """The callback for ``--mlflow [URI]`` of the search writing ``experiment_dir`` (``<storage>/<name>``)."""
    uri, artifacts = tracking_uri(requested, experiment_dir)
    return TrialRuns(uri, name, artifacts)
