"""Torch models and a registry: ``get_model(name, *, weights=None, **kw)``, ``list_models()``.

Importing this package imports torch; the CLI imports it only inside the ``models`` verbs, so
``smokewatch --help`` and ``smokewatch serve`` stay torch-free.
"""

from __future__ import annotations

from smokewatch.models import i3d as _i3d  # noqa: F401  (registers "i3d")
from smokewatch.models.i3d import I3D, I3DWeights
from smokewatch.models.registry import (
    ModelError,
    Weights,
    WeightsEnum,
    get_model,
    get_model_builder,
    get_model_weights,
    get_weights,
    list_models,
    model_info,
    register_model,
)

__all__ = [
    "I3D",
    "I3DWeights",
    "ModelError",
    "Weights",
    "WeightsEnum",
    "get_model",
    "get_model_builder",
    "get_model_weights",
    "get_weights",
    "list_models",
    "model_info",
    "register_model",
]
