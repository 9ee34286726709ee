"""Where MLflow runs go, for the search's and the analysis's ``--mlflow`` (no Ray here, for the analysis):
by default a SQLite store beside the trials (``<storage>/<name>/mlflow/``), which needs no server and
works with ``mlflow-skinny`` (MLflow 3 refuses its plain-file store), else any tracking URI. SQLite wants
a local disk: on a cluster pass a tracking server's URI (docs/tracking.md)."""

from __future__ import annotations

from pathlib import Path

from tune_mnist.core.errors import InputError
from tune_mnist.experiment.storage import is_uri

#: ``--mlflow`` without a URI: the store beside the experiment.
BESIDE = "beside the experiment"
STORE_DIR, DB_FILE, ARTIFACT_DIR = "mlflow", "mlflow.db", "artifacts"


def check_uri(requested: str) -> None:
    """Refuse a ``--mlflow`` value that is not a tracking URI, before any work starts."""
    if requested != BESIDE and "://" not in requested and requested != "databricks":
        raise InputError(
            f"--mlflow {requested} is not a tracking URI: pass one such as http://HOST:5000 or "
            "sqlite:////path/mlflow.db, or --mlflow alone for a store beside the experiment."
        )


def tracking_uri(requested: str, experiment_dir: str) -> tuple[str, str | None]:
    """The tracking URI of ``requested`` (a URI or ``BESIDE``, as ``check_uri`` let through when the
    options were read) and, for a local SQLite store, the artifact location to create the experiment with."""
    if requested == BESIDE:
        if is_uri(experiment_dir):
            raise InputError(
                f"--mlflow without a URI keeps its store beside the experiment, which needs a local "
                f"--storage-path, not {experiment_dir}: pass --mlflow URI (e.g. http://HOST:5000 or "
                "sqlite:////path/mlflow.db)."
            )
        store = Path(experiment_dir) / STORE_DIR
        store.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{store / DB_FILE}", (store / ARTIFACT_DIR).as_uri()
    if requested.startswith("sqlite:///"):
        db = Path(requested[len("sqlite:///") :])
        db.parent.mkdir(parents=True, exist_ok=True)
        return requested, (db.parent / ARTIFACT_DIR).resolve().as_uri()
    return requested, None


def experiment_id(uri: str, name: str, artifact_location: str | None) -> str:
    """The MLflow experiment ``name`` at ``uri``, created (with ``artifact_location``) if missing."""
    import logging

    from mlflow.tracking import MlflowClient

    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)  # "Creating initial MLflow database tables"
    logging.getLogger("alembic").setLevel(logging.WARNING)
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found else client.create_experiment(name, artifact_location=artifact_location)
