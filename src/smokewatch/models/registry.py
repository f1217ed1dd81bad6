"""One registry for models, in the style of torchvision's ``get_model``.

A name in a config maps to a keyword-only builder::

    @register_model("i3d", weights=I3DWeights)
    def i3d(*, weights: I3DWeights | str | None = None, progress: bool = True, **kw) -> I3D: ...

    model = get_model("i3d", weights="kinetics400", cache_dir=settings.cache_dir)
    list_models()                 # ['i3d', ...]
    get_model_weights("i3d")      # the I3DWeights enum: one entry per released set of weights

Weights are data, not code: each :class:`Weights` entry names its source, the input it expects
and its preprocessing, and how to obtain its state dict (fetched and converted on first use,
then cached). Registering is cheap; builders import nothing until called.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from smokewatch.errors import SmokewatchError

if TYPE_CHECKING:
    import torch

__all__ = [
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

M = TypeVar("M", bound=Callable[..., Any])


class ModelError(SmokewatchError, ValueError):
    """An unknown model or weights name, or a checkpoint that does not fit the model."""


@dataclass(frozen=True)
class Weights:
    """One released set of weights for a registered model.

    ``load(cache_dir, progress)`` returns the state dict (a mapping of tensor names to tensors),
    fetching and converting it on first use and caching it under ``cache_dir``.
    """

    name: str
    source: str
    load: Callable[[Path, bool], Mapping[str, torch.Tensor]]
    meta: Mapping[str, Any] = field(default_factory=dict)
    transforms: str = ""

    @property
    def num_classes(self) -> int:
        return int(self.meta["num_classes"])

    def state_dict(self, cache_dir: Path | None, progress: bool) -> Mapping[str, torch.Tensor]:
        """The weights, kept under ``cache_dir``: the caller says where (settings are passed
        in; the library never reads them), so a missing folder is an error, not a guess."""
        if cache_dir is None:
            raise ModelError(
                f"weights {self.name!r} need cache_dir, the folder converted weights are kept "
                "in (the smokewatch command passes SMOKEWATCH_CACHE_DIR)"
            )
        return self.load(cache_dir, progress)


class WeightsEnum(enum.Enum):
    """Base of each model's weights enum: ``I3DWeights.KINETICS400``; values are :class:`Weights`.

    ``WeightsEnum.resolve`` accepts a member, its name in any case (``"kinetics400"``,
    ``"KINETICS400"``), ``"Class.MEMBER"``, or ``"DEFAULT"`` for the first member.
    """

    @property
    def weights(self) -> Weights:
        value: Weights = self.value
        return value

    @classmethod
    def resolve(cls, spec: WeightsEnum | str) -> WeightsEnum:
        if isinstance(spec, cls):
            return spec
        if isinstance(spec, WeightsEnum):
            raise ModelError(f"{spec} are not weights for this model (expected {cls.__name__})")
        key = str(spec).split(".")[-1].upper().replace("-", "_")
        if key == "DEFAULT":
            return next(iter(cls))
        for member in cls:
            if member.name == key:
                return member
        names = ", ".join(m.name.lower() for m in cls)
        raise ModelError(f"unknown weights {spec!r} for {cls.__name__}; known: {names}")


@dataclass(frozen=True)
class _Entry:
    builder: Callable[..., Any]
    weights: type[WeightsEnum] | None
    summary: str


_REGISTRY: dict[str, _Entry] = {}


def register_model(name: str, *, weights: type[WeightsEnum] | None = None) -> Callable[[M], M]:
    """Register a keyword-only model builder under ``name`` (and its weights enum, if any)."""

    def decorate(builder: M) -> M:
        if name in _REGISTRY and _REGISTRY[name].builder is not builder:
            raise ValueError(f"model {name!r} is already registered")
        doc = (builder.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = _Entry(builder, weights, doc[0] if doc else "")
        return builder

    return decorate


def list_models() -> list[str]:
    """Names of the registered models, sorted."""
    return sorted(_REGISTRY)


def _entry(name: str) -> _Entry:
    try:
        return _REGISTRY[name.lower()]
    except KeyError:
        known = ", ".join(list_models()) or "(none)"
        raise ModelError(f"unknown model {name!r}; registered models: {known}") from None


def get_model_builder(name: str) -> Callable[..., Any]:
    """The builder registered under ``name``."""
    return _entry(name).builder


def get_model(name: str, *, weights: WeightsEnum | str | None = None, **kwargs: Any) -> Any:
    """Build the model registered under ``name``: ``get_model("i3d", weights="kinetics400")``.

    Keyword arguments go to the builder (e.g. ``num_classes=1`` for a binary head).
    """
    return _entry(name).builder(weights=weights, **kwargs)


def get_model_weights(name: str) -> type[WeightsEnum] | None:
    """The weights enum of model ``name`` (``None`` when it has no released weights)."""
    return _entry(name).weights


def get_weights(spec: str) -> tuple[str, WeightsEnum]:
    """Resolve a fetchable name such as ``"i3d-kinetics400"`` to (model name, weights entry)."""
    for model in sorted(_REGISTRY, key=len, reverse=True):
        enum_cls = _REGISTRY[model].weights
        if enum_cls is None or not spec.lower().startswith(model + "-"):
            continue
        return model, enum_cls.resolve(spec[len(model) + 1 :])
    raise ModelError(f"unknown weights {spec!r}; available: {', '.join(_fetchable()) or '(none)'}")


def _fetchable() -> list[str]:
    return [
        f"{model}-{member.name.lower()}"
        for model, entry in sorted(_REGISTRY.items())
        if entry.weights is not None
        for member in entry.weights
    ]


def model_info(name: str) -> dict[str, Any]:
    """What ``smokewatch models info`` prints: summary, defaults and every weights' metadata."""
    entry = _entry(name)
    info: dict[str, Any] = {"name": name.lower(), "summary": entry.summary, "weights": {}}
    if entry.weights is not None:
        for member in entry.weights:
            w = member.weights
            info["weights"][f"{name.lower()}-{member.name.lower()}"] = {
                "source": w.source,
                "transforms": w.transforms,
                **dict(w.meta),
            }
    return info
