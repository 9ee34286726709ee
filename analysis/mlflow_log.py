"""``python -m analysis.pareto --mlflow [URI]``: each analysis as a new MLflow run named ``analysis`` beside
the search's trial runs, in its experiment and store (docs/tracking.md)."""

from __future__ import annotations

from pathlib import Path

from analysis.result import Analysis
from tune_mnist.extras.mlflow_store import experiment_id, tracking_uri
from tune_mnist.extras.optional import require

RUN_NAME = "analysis"
KIND_TAG = "tune_mnist.kind"
FOLDERS = {".csv": "tables", ".png": "plots", ".md": "report", ".html": "report"}


def log_analysis(requested: str, analysis: Analysis, files: list[Path]) -> str:
    """Log one ``analysis`` run; returns the line to print, naming the run and the tracking URI."""
    require("mlflow", "--mlflow")
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    front, experiment = analysis.final, analysis.experiment
    params = {
        "min_accuracy": analysis.min_accuracy,
        "accuracy_metric": analysis.accuracy_metric,
        "bar_on": analysis.bar_on,
        "objectives": ",".join(str(o) for o in analysis.objectives),
        "epoch": analysis.epoch or "last",
        "remeasured": analysis.remeasured is not None,
    }
    metrics = {
        "front_size": len(front.front),
        "feasible_configs": int(front.table["feasible"].sum()),
        "configs": len(analysis.front.table),
        "hypervolume": front.hypervolume,
    }
    uri, artifacts = tracking_uri(requested, experiment.location.root)
    client = MlflowClient(uri)
    exp = experiment_id(uri, experiment.name, artifacts)
    run = client.create_run(exp, run_name=RUN_NAME, tags={KIND_TAG: RUN_NAME})
    run_id = run.info.run_id
    try:
        client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), 0, 0) for k, v in metrics.items() if v is not None and v == v],
            params=[Param(k, str(v)[:6000]) for k, v in params.items()],
            tags=[RunTag("tune_mnist.experiment", experiment.location.root)],
        )
        for path in files:
            path = Path(path)
            if path.is_file():
                client.log_artifact(run_id, str(path), FOLDERS.get(path.suffix.lower(), "files"))
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED")
    return f"Logged to MLflow: run analysis ({run_id}) in experiment {experiment.name} at {uri}."
