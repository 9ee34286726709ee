"""Ray for the search: connect to a cluster or start a local Ray, then check, before any trial
starts, that a trial fits on a node and that every node can write to the storage."""

from __future__ import annotations

import os

from tune_mnist.core.errors import InputError
from tune_mnist.experiment.storage import check_shared


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail in seconds, not after Ray's minutes of retries, when HOST:PORT does not answer."""
    import socket

    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return  # auto, ray://...: Ray itself reports these quickly
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise InputError(
            f"Cannot reach the Ray cluster at {address} ({exc.strerror or exc}): check the address "
            "(the head's IP and GCS port, 6379 by default) and that `ray start --head` runs "
            "there."
        ) from None


def start_ray(
    address: str | None, cpus_per_trial: float, gpus_per_trial: float, storage: str, shared_storage: bool
) -> None:
    """Connect to ``address`` (Ray rejects resource arguments there), reuse this process's Ray, or start a
    local one sized to this machine; then check that the trials fit and every node can write to the storage."""
    import ray

    if not ray.is_initialized():
        if address:
            check_reachable(address)
            try:
                ray.init(address=address, log_to_driver=False)  # trial output stays in Ray's logs
            except Exception as exc:  # Ray raises ConnectionError, RuntimeError or its own types here
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise InputError(
                    f"Cannot connect to the Ray cluster at {address} ({reason}): check that it runs "
                    "(ray status on its head) and, as its nodes have, set RAY_AUTH_MODE=token and the "
                    "token (RAY_AUTH_TOKEN or ~/.ray/auth_token)."
                ) from None
        else:
            # Trial processes' output stays in Ray's session logs, off the console: tune_mnist.experiment.ray_log
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
    resources = ray.cluster_resources()
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    cpus, gpus = resources.get("CPU", 0), resources.get("GPU", 0)
    print(f"Ray: {len(nodes)} node(s), {cpus:g} CPUs, {gpus:g} GPUs")
    for node in nodes:
        res = node.get("Resources", {})
        print(
            f"  node {node.get('NodeManagerAddress')} ({node.get('NodeID', '')[:8]}): "
            f"{res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs"
        )
    check_shared(storage, len(nodes), shared_storage)
    # A trial runs on one node, so it must fit the largest node, not just the cluster's total.
    node_cpus = max((n.get("Resources", {}).get("CPU", 0) for n in nodes), default=0)
    node_gpus = max((n.get("Resources", {}).get("GPU", 0) for n in nodes), default=0)
    if cpus_per_trial > node_cpus:
        raise InputError(
            f"--cpus-per-trial {cpus_per_trial:g} is more than the {node_cpus:g} CPUs of the largest "
            "Ray node: lower it."
        )
    if gpus_per_trial > node_gpus:
        raise InputError(
            f"--gpus-per-trial {gpus_per_trial:g} asks for more GPUs than the {node_gpus:g} of the "
            "largest Ray node: drop it (CPU trials) or connect to a cluster with GPUs via --address."
        )
