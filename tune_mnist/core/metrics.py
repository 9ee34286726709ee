"""The names of every reported metric: one string each, used alike by the training loop, the
trainable, the analysis, its CSV files and its plots. ``tune_mnist.training.rows`` builds the rows from them."""

from __future__ import annotations

EPOCH = "epoch"
ACCURACY = ("train_acc", "val_acc", "test_acc")
LOSS = ("train_loss", "val_loss", "test_loss")
TIMING = ("epoch_time_s", "train_time_s")
#: Per-sample latencies in microseconds: batch-1 percentiles, then the per-sample time at a large batch.
LATENCY_US = ("latency_p50_us", "latency_p90_us", "latency_p99_us", "latency_batch_us")
LATENCY = (*LATENCY_US, "latency_batch_size")
COST = ("params", "flops", "flops_bias_relu", "in_features")
SPLIT_SIZES = ("train_size", "val_size", "test_size")
DESCRIPTION = ("input_spec", "architecture", *SPLIT_SIZES)
ENVIRONMENT = ("device", "device_name", "threads", "torch_version")
PACK_SIZE = "pack_size"  # configs trained together in the trial (1 unless --pack)
PACK = (PACK_SIZE,)
#: A pack trial's report (not a member's row): member index -> the early-stop decision of this epoch.
STOPPED_MEMBERS = "stopped_members"
#: A pack trial's report: True when the pack stopped because it could not finish before the budget's end.
STOPPED_BY_BUDGET = "stopped_by_budget"
PLACEMENT = ("node_ip", "node_id", "gpu_ids")  # added by the trainable: where the trial ran

#: Every key of every per-epoch row the training loop yields, in the order the rows hold them.
EPOCH_ROW = (
    EPOCH,
    *LOSS[:1],
    *ACCURACY[:1],
    LOSS[1],
    ACCURACY[1],
    LOSS[2],
    ACCURACY[2],
    *TIMING,
    *COST,
    *DESCRIPTION,
    *LATENCY,
    *ENVIRONMENT,
)

UNITS = {
    "train_acc": "fraction",
    "val_acc": "fraction",
    "test_acc": "fraction",
    "epoch_time_s": "s",
    "train_time_s": "s",
    "flops": "FLOPs/sample",
    "params": "parameters",
    "latency_p50_us": "us/sample",
    "latency_p90_us": "us/sample",
    "latency_p99_us": "us/sample",
    "latency_batch_us": "us/sample",
}
