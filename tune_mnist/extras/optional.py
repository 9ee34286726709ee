"""Optional extras (``pip install -e ".[onnx]"``, ``".[mlflow]"``): imported only when an option needs
them, so the default install works without them and a missing one is one sentence naming the extra."""

from __future__ import annotations

import importlib

from tune_mnist.core.errors import InputError

#: The modules each extra brings (pyproject.toml's [project.optional-dependencies]).
EXTRAS: dict[str, tuple[str, ...]] = {"onnx": ("onnx", "onnxscript", "onnxruntime"), "mlflow": ("mlflow",)}


def require(extra: str, option: str) -> None:
    """Import every module of ``extra`` or raise InputError naming the option and the extra."""
    for name in EXTRAS[extra]:
        try:
            importlib.import_module(name)
        except ImportError:
            raise InputError(
                f"{option} needs the optional {extra!r} extra, which is not installed here: "
                f'install it with pip install -e ".[{extra}]" (or pip install {" ".join(EXTRAS[extra])}).'
            ) from None
