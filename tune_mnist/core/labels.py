"""The one way a config is named for people (trial directories, the live table, the analysis):
``TrialConfig.label``, built from these words: the input spec, the model (``linear`` or
``<depth>x<width>``), the training settings that differ from the defaults (``lr2.1e-4``, ``b128``),
then the seed (``s0``). Compared with the defaults, not the other configs, a label is known before the
experiment is and never changes; the analysis adds settings only where two configs would read the same."""

from __future__ import annotations

from typing import Any

from tune_mnist.core.metrics import missing

#: Label prefixes of the settings a label may show, in the order it shows them.
SETTING_PREFIX = {
    "lr": "lr",
    "batch_size": "b",
    "epochs": "e",
    "width": "w",
    "validation_size": "val",
    "split_seed": "split",
    "subset": "n",
}


def short_number(value: Any) -> str:
    """A number in few characters: whole numbers as they are, other floats with two significant
    digits, in scientific form (``2.1e-4``) below 0.1 or from 1000 on (``0.5``, ``12``, ``1e-2``)."""
    if missing(value):
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)  # numpy numbers
        except (TypeError, ValueError):
            return str(value)
    if float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    if 0.1 <= abs(value) < 1000:
        return f"{float(f'{value:.2g}'):g}"
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa.removesuffix('.0')}e{int(exponent)}"


def model_text(depth: int, width: int) -> str:
    """``linear`` for a model with no hidden layer (its width means nothing), else ``2x1024``."""
    return "linear" if int(depth) == 0 else f"{int(depth)}x{int(width)}"


def setting_text(key: str, value: Any) -> str:
    """One setting as a label shows it, e.g. ``lr2.1e-4``, ``b128``, ``e8``."""
    return f"{SETTING_PREFIX.get(key, key)}{short_number(value)}"


#: Settings that may tell apart configs whose labels read the same, in the order a label adds them.
DISTINGUISHING = ("epochs", "lr", "batch_size", "width", "validation_size", "split_seed", "subset")


def distinct_labels(labels: list[str], settings: list[dict[str, Any]]) -> list[str]:
    """``labels`` (one per config, without the seed) with, where several configs share one, the settings that
    differ among them added (``resize8 1x256 e8``): the search's summary and the analysis name configs so.
    ``settings[i]`` holds config i's values of ``DISTINGUISHING``."""
    out = list(labels)
    shared: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        shared.setdefault(label, []).append(i)
    for label, members in shared.items():
        if len(members) < 2:
            continue
        words = label.split()

        def value(i: int, key: str) -> Any:
            v = settings[i].get(key)
            return None if missing(v) else v

        differing = [k for k in DISTINGUISHING if len({str(value(i, k)) for i in members}) > 1]
        for i in members:
            extra = [setting_text(k, value(i, k)) for k in differing]
            out[i] = " ".join([label, *(w for w in extra if w not in words)])
    return out
