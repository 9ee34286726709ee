"""What an experiment writes to its storage, predicted from its configs for ``--dry-run`` and the
free-space check (tests/test_faults.py measures it): per finished trial its rows and float32 weights;
per running trial also a resumable checkpoint (weights and Adam's two moments), two while Ray reports
the next. The per-trial and per-epoch sizes below were measured on this project's trials (Ray 2.60)."""

from __future__ import annotations

from dataclasses import dataclass

from tune_mnist.core.config import TrialConfig
from tune_mnist.model.counts import mlp_params

#: float32
BYTES_PER_PARAM = 4
#: torch.save's zip container around a state_dict, and the model's config.json.
MODEL_OVERHEAD = 4_000
#: A trial's line in Ray's experiment state, params.json/.pkl and the directory's other small files.
PER_TRIAL = 40_000
#: A row per epoch in result.json, progress.csv, Ray's event file and the experiment state.
PER_EPOCH = 4_000
#: A running trial's resumable checkpoint: the weights, plus the optimizer's copy and Adam's two moments.
CHECKPOINT_FACTOR = 4
#: Checkpoints a running trial may hold at once (its latest, and the previous one until it is pruned).
CHECKPOINTS_HELD = 2


@dataclass(frozen=True)
class Estimate:
    """Bytes: ``finished`` once every trial is done, ``running`` more while trials hold checkpoints."""

    weights: int
    finished: int
    running: int

    @property
    def needed(self) -> int:
        return self.finished + self.running


def weights_bytes(config: TrialConfig) -> int:
    return BYTES_PER_PARAM * mlp_params(config.in_features, config.depth, config.width)


def trial_bytes(config: TrialConfig) -> int:
    """What a finished trial of ``config`` leaves on the storage."""
    return weights_bytes(config) + MODEL_OVERHEAD + PER_TRIAL + PER_EPOCH * config.epochs


def estimate(configs: list[TrialConfig], concurrent: int) -> Estimate:
    """The experiment of ``configs`` (one trial each), ``concurrent`` trials at a time."""
    largest = sorted((weights_bytes(c) for c in configs), reverse=True)[: max(1, concurrent)]
    return Estimate(
        weights=sum(weights_bytes(c) for c in configs),
        finished=sum(trial_bytes(c) for c in configs),
        running=CHECKPOINT_FACTOR * CHECKPOINTS_HELD * sum(largest),
    )


def megabytes(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"
