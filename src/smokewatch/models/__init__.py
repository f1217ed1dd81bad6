"""Torch models and a registry: ``get_model(name, *, weights=None, **kw)``, ``list_models()``.

Importing this package imports torch; the CLI imports it only inside the ``models`` verbs, so
``smokewatch --help`` and ``smokewatch serve`` stay torch-free.
"""

from __future__ import annotations

from smokewatch.models import efficientnet_tsm as _efficientnet_tsm  # noqa: F401
from smokewatch.models import flow_i3d as _flow_i3d  # noqa: F401  (registers "i3d-flow")
from smokewatch.models import i3d as _i3d  # noqa: F401  (registers "i3d")
from smokewatch.models import lstm as _lstm  # noqa: F401  (registers "i3d-lstm")
from smokewatch.models import nonlocal_ as _nonlocal  # noqa: F401  (registers "i3d-nl")
from smokewatch.models import svm as _svm  # noqa: F401  (registers "svm")
from smokewatch.models import timeception as _timeception  # noqa: F401  (registers "i3d-tc")
from smokewatch.models import tiny as _tiny  # noqa: F401  (registers "tiny3d")
from smokewatch.models import tsm as _tsm  # noqa: F401  (registers "i3d-tsm")
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
