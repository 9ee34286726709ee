"""The trial config: the one vocabulary shared by the single-run CLI, the trainable, the search
spaces and the analysis (params.json holds exactly these keys)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tune_mnist.core.errors import InputError
from tune_mnist.core.labels import model_text, setting_text
from tune_mnist.core.metrics import missing

IMAGE_SIDE = 28
NUM_CLASSES = 10
SCALINGS = ("unit", "standard")
#: The key of a pack trial's config (``--pack``): the list of configs it trains together.
PACK_MEMBERS = "members"
#: A trial config key: the confirmation round that proposed the trial (absent on screening trials).
#: Nothing stops such a trial early or at the budget (the scheduler, a pack's member stopping); the
#: analysis ignores the key.
CONFIRM_ROUND = "confirm_round"


@dataclass(frozen=True)
class TrialConfig:
    """One MLP and how it is trained. ``crop``/``side`` of None mean "skip that step"."""

    crop: int | None = None
    side: int | None = None
    scaling: str = "unit"
    depth: int = 2
    width: int = 1024
    lr: float = 1e-3
    batch_size: int = 64
    epochs: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        # Normalise 0 / 28-with-no-crop style inputs so equal models compare equal.
        if self.crop in (0, IMAGE_SIDE):
            object.__setattr__(self, "crop", None)
        if self.side == 0:
            object.__setattr__(self, "side", None)
        if self.side is not None and self.side == (self.crop or IMAGE_SIDE):
            object.__setattr__(self, "side", None)
        self.validate()

    def validate(self) -> None:
        """Reject impossible configs before any work starts."""

        def need_int(name: str, value: Any, low: int, high: int | None = None) -> None:
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value < low
                or (high is not None and value > high)
            ):
                bound = f"an integer from {low} to {high}" if high is not None else f"an integer >= {low}"
                raise InputError(f"Config {name}={value!r} is invalid: use {bound}.")

        if self.crop is not None:
            need_int("crop", self.crop, 1, IMAGE_SIDE)
        if self.side is not None:
            need_int("side", self.side, 1, self.crop or IMAGE_SIDE)
        if self.scaling not in SCALINGS:
            raise InputError(f"Config scaling={self.scaling!r} is invalid: use one of {', '.join(SCALINGS)}.")
        need_int("depth", self.depth, 0)
        need_int("width", self.width, 1)
        need_int("batch_size", self.batch_size, 1)
        need_int("epochs", self.epochs, 1)
        need_int("seed", self.seed, 0)
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not self.lr > 0 or self.lr != self.lr:
            raise InputError(f"Config lr={self.lr!r} is invalid: use a positive learning rate such as 1e-3.")

    @property
    def input_side(self) -> int:
        """Side of the square image the MLP sees."""
        return self.side or self.crop or IMAGE_SIDE

    @property
    def in_features(self) -> int:
        return self.input_side**2

    @property
    def input_spec(self) -> str:
        """A short human label, e.g. ``crop14``, ``resize8``, ``crop20-resize8``, ``full28``."""
        parts = []
        if self.crop is not None:
            parts.append(f"crop{self.crop}")
        if self.side is not None:
            parts.append(f"resize{self.side}")
        label = "-".join(parts) or f"full{IMAGE_SIDE}"
        return label + ("-std" if self.scaling == "standard" else "")

    @property
    def architecture(self) -> str:
        """E.g. ``784-1024-1024-10``."""
        return "-".join(str(n) for n in [self.in_features] + [self.width] * self.depth + [NUM_CLASSES])

    def label(self, sep: str = " ", seed: bool = True) -> str:
        """E.g. ``resize8 1x256 s0``, ``crop20-resize13-std linear lr2.1e-4 b128 s0``: how trial
        directories, the live table and (without the seed) the analysis name a config (``tune_mnist.core.labels``)."""
        parts = [self.input_spec, model_text(self.depth, self.width)]
        # The training settings that differ from the defaults (lr, batch_size): known before the experiment is.
        parts += [setting_text(k, getattr(self, k)) for k in LABEL_SETTINGS if getattr(self, k) != _DEFAULTS[k]]
        if seed:
            parts.append(f"s{self.seed}")
        return sep.join(parts)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrialConfig:
        """Build from a (Tune) config dict, ignoring keys that are not config fields."""
        names = {f.name for f in dataclasses.fields(cls)}
        known = {k: v for k, v in values.items() if k in names}
        for key in ("crop", "side", "depth", "width", "batch_size", "epochs", "seed"):
            value = known.get(key)
            # Tune and JSON may hand back floats such as 8.0 or numpy ints; keep whole numbers exact.
            if (
                value is not None
                and not isinstance(value, bool)
                and hasattr(value, "__int__")
                and float(value) == int(value)
            ):
                known[key] = int(value)
        if "lr" in known and known["lr"] is not None:
            known["lr"] = float(known["lr"])
        return cls(**known)


def config_label(values: dict[str, Any], sep: str = " ", fallback: str = "config") -> str:
    """``TrialConfig.label`` of a config dict, or ``fallback`` where the dict is not a valid config."""
    try:
        return TrialConfig.from_dict(values).label(sep)
    except (InputError, TypeError, ValueError):
        return fallback


CONFIG_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(TrialConfig))
#: The run's data options every trial's params.json records beside its config: what data it saw.
DATA_KEYS = ("validation_size", "split_seed", "subset")
_DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(TrialConfig)}
#: Settings a label names where they differ from the defaults; epochs are left to the table's epoch column.
LABEL_SETTINGS = ("lr", "batch_size")


def pack_members(config: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The flat configs a pack trial trains, each with the trial's run constants (what its member's
    params.json holds), or None for a one-config trial."""
    if PACK_MEMBERS not in config:
        return None
    shared = {k: v for k, v in config.items() if k != PACK_MEMBERS}
    return [{**member, **shared} for member in config[PACK_MEMBERS]]


def trial_point(configs: list[TrialConfig], constants: dict[str, Any], flat: bool) -> dict[str, Any]:
    """One Tune config, ``pack_members``' inverse: a lone config as it is where ``flat``, else the configs as
    a pack's ``members``; with the run ``constants`` every trial records beside them."""
    if flat and len(configs) == 1:
        return {**configs[0].to_dict(), **constants}
    return {PACK_MEMBERS: [config.to_dict() for config in configs], **constants}


def config_key(values: Mapping[str, Any], *, seed: bool = False, data: bool = False) -> str:
    """One config as one string (a JSON object), the same for every spelling of it (``8`` or ``8.0``, ``side``
    equal to its crop or left out, an empty cell for None): without ``seed`` its seeds share the key; with
    ``data`` the ``DATA_KEYS`` are part of it. An invalid config still gets a key, from its raw fields:
    naming a trial must never crash the driver."""
    given = {k: v for k, v in values.items() if not missing(v)}
    try:
        fields = TrialConfig.from_dict(given).to_dict()
    except (InputError, TypeError, ValueError):
        fields = {k: given[k] for k in CONFIG_KEYS if k in given}
    if not seed:
        fields.pop("seed", None)
    if data:
        fields.update({k: given.get(k) for k in DATA_KEYS})
    return json.dumps(fields, sort_keys=True, default=str)
