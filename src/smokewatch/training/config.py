"""Training configurations: the paper's Table 10 as presets, one YAML file each.

A preset is data (``smokewatch/configs/<name>.yaml``), validated here with pydantic so a typo
in a YAML file or in ``--set key=value`` is a clear error, not a silently ignored option.
``batch_size`` is the *global* batch: per-device batch x devices x ``accumulate``.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from smokewatch.core.files import read_user_text
from smokewatch.errors import SmokewatchError

__all__ = [
    "MAX_SIZE",
    "ConfigError",
    "FeatureSpec",
    "HeadsConfig",
    "TrainConfig",
    "apply_overrides",
    "list_presets",
    "load_config",
]


#: the largest frame size a model trains or infers at: the paper uses 224, RISE clips are 180;
#: beyond this a batch of 36-frame clips no longer fits in memory (10^5 px asked for 21 GB)
MAX_SIZE = 1024


class ConfigError(SmokewatchError, ValueError):
    """A preset or configuration file that does not exist or does not validate."""


class FeatureSpec(BaseModel):
    """Which summaries a head reads and how they become one vector (``HeadsConfig.candidates``).

    ``parts``: extractor names (``i3d``, ``lite0``, ``diff``, ``flow``); ``endpoints``: the
    I3D layers; ``pyramid``: global mean plus the 2x2 cells, else the global mean only;
    ``stats``: temporal statistics of the per-time-step global feature (``mean`` is always
    there through the pyramid; ``std``, ``max`` add motion/transience); ``flip``: average the
    I3D summary with that of the mirrored clip; ``lite_frames``: how many of the 36 frames the
    fast model runs EfficientNet on (uniformly spread); ``lite_size``: its frame size;
    ``temporal``: I3D's global feature also as the mean of each of this many consecutive
    stretches of its time steps (a temporal pyramid: a puff early or late in the clip);
    ``power``: signed square root of every value (power normalisation, which tames the few
    huge activations of pooled CNN features before the head standardises them); ``crops``:
    test-time augmentation by crops, I3D also reads each named 80% square of the frame
    (``tl``, ``tr``, ``bl``, ``br`` corners, ``c`` centre) resized to ``crop_size`` (default
    ``size``), and the 2x2 grids of all readings are averaged cell by cell (a corner crop sees
    smoke in its corner larger; docs/models-cpu.md); ``lite_layer``: where Lite0 is read,
    its 1280-channel ``head`` (pooled per frame, so ``pyramid`` has no grid to read there and
    leaves Lite0's vector as it was) or the end of its 112-channel stage (``mbconv-112``:
    stride 16, kept as a 2x2 grid per frame, which ``pyramid`` reads; the five blocks after it
    are never run). A global feature is the mean of the four cells, as for I3D (the map's mean
    where its side is even, as at 180^2).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    parts: tuple[Literal["i3d", "lite0", "diff", "flow"], ...] = ("i3d",)
    endpoints: tuple[str, ...] = ("Mixed_5c",)
    pyramid: bool = False
    stats: tuple[Literal["std", "max"], ...] = ()
    spatial_max: bool = False
    flip: bool = False
    frames: int = Field(default=36, ge=1)
    size: int = Field(default=180, ge=32, le=MAX_SIZE)
    lite_frames: int = Field(default=8, ge=1)
    lite_size: int = Field(default=180, ge=32, le=MAX_SIZE)
    temporal: int = Field(default=1, ge=1)
    power: bool = False
    crops: tuple[Literal["tl", "tr", "bl", "br", "c"], ...] = ()
    crop_size: int | None = Field(default=None, ge=32, le=MAX_SIZE)
    lite_layer: Literal["head", "mbconv-112"] = "head"

    @model_validator(mode="after")
    def _check_crops(self) -> FeatureSpec:
        if len(set(self.crops)) != len(self.crops):
            raise ValueError(f"crops name a crop twice: {list(self.crops)}")
        if self.crops and "i3d" not in self.parts:
            raise ValueError("crops are read by I3D: they need i3d in parts")
        if self.crop_size is not None and not self.crops:
            raise ValueError("crop_size without crops: name the crops to read (e.g. [tl, br])")
        if self.lite_layer != "head" and "lite0" not in self.parts:
            raise ValueError("lite_layer is where Lite0 is read: it needs lite0 in parts")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Without crops, no crop keys, and no ``lite_layer`` when it is the head: such a
        spec, saved here, stays readable by installs from before they existed (their
        ``FeatureSpec`` forbids unknown keys). A model folder keeps every candidate's spec,
        so it is readable there only if none of its candidates uses them."""
        out: dict[str, Any] = handler(self)
        if not self.crops and self.crop_size is None:
            out.pop("crops", None)
            out.pop("crop_size", None)
        if self.lite_layer == "head":
            out.pop("lite_layer", None)
        return out

    def family(self) -> str:
        """The stream(s) it reads (``i3d``, ``lite0+diff``): fusion takes the best of each."""
        return "+".join(self.parts)


HeadKind = Literal["svm-linear", "svm-rbf"]


class HeadsConfig(BaseModel):
    """``kind: heads``: small heads on cached frozen features, everything chosen by inner CV.

    ``candidates``: named feature sets; each is tried with every head of ``kinds`` and every
    ``C`` of ``c_grid``; ``fuse``: the best candidate of each family may be fused (weights
    chosen inside too); ``inner_folds``: the inner cross-validation that chooses.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    candidates: dict[str, FeatureSpec]
    kinds: tuple[HeadKind, ...] = ("svm-linear", "svm-rbf")
    c_grid: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0, 100.0)
    inner_folds: int = Field(default=5, ge=2)
    fuse: bool = True


class TrainConfig(BaseModel):
    """Everything that decides a training run (and nothing about where its data lives)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str
    description: str = ""
    kind: Literal["torch", "svm", "heads"] = "torch"
    #: a registered model name (``smokewatch models list``); for ``kind: svm`` the backbone
    model: str = "i3d"
    #: released weights to start from (``kinetics400``) or null for random initialization
    weights: str | None = "kinetics400"
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    #: start from another run's trained model: a preset name (resolved by ``experiments``
    #: to that preset's model for the same split) or a model directory
    init_from: str | None = None
    #: freeze the backbone up to and including this I3D endpoint (e.g. ``Mixed_4f``); frozen
    #: layers keep their batch-norm statistics
    freeze_until: str | None = None
    modality: Literal["rgb", "flow"] = "rgb"
    flow_method: str = "dis"
    frames: int = Field(36, ge=1)
    size: int = Field(224, ge=8, le=MAX_SIZE)
    augment: bool = True
    perturb_frames: bool = False
    #: ``bce``: BCE on the clip logit; ``rise``: RISE's loss, 0.5 x BCE of the per-time-step
    #: logits stretched to the frames + 0.5 x BCE of their max over time (the clip score)
    loss: Literal["bce", "rise"] = "bce"
    lr: float = Field(0.1, gt=0)
    momentum: float = Field(0.9, ge=0)
    weight_decay: float = Field(1e-6, ge=0)
    milestones: list[int] = Field(default_factory=lambda: [500, 1500])
    steps: int = Field(2000, ge=1)
    batch_size: int = Field(40, ge=1)
    accumulate: int = Field(2, ge=1)
    #: validate every N optimizer steps (0: never; the final weights are the model)
    val_every: int = Field(100, ge=0)
    #: checkpoints are chosen from validations at or after this step (the paper: 500)
    select_after: int = Field(500, ge=0)
    #: write a resumable checkpoint at least every N steps (0: at validations only)
    checkpoint_every: int = Field(50, ge=0)
    #: hold this fraction of the training clips out for validation when no validation set is
    #: given (stratified, seeded); 0 trains on all of them
    val_fraction: float = Field(0.0, ge=0, lt=1)
    workers: int = Field(2, ge=0)
    seed: int = 0
    amp: bool = True
    threshold: float = Field(0.5, gt=0, lt=1)
    #: which validation chooses the weights: the best F1 (ties: lower loss), the best ROC-AUC
    #: (ties: lower loss; steadier than F1 on a few hundred clips) or the lowest loss
    select_by: Literal["f1", "roc_auc", "loss"] = "f1"
    #: choose the decision threshold on the validation clips (the one with the best F1 there,
    #: at each validation; the chosen validation's goes into the model) instead of ``threshold``
    choose_threshold: bool = False
    #: SVM parameters (``kind: svm``): scikit-learn SVC arguments, RISE's C=4, gamma='scale'
    svm: dict[str, Any] = Field(default_factory=lambda: {"C": 4.0, "gamma": "scale"})
    #: ``kind: heads``: the feature sets and heads the inner CV chooses among
    heads: HeadsConfig | None = None

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.batch_size % self.accumulate:
            raise ValueError(
                f"batch_size {self.batch_size} is not divisible by accumulate {self.accumulate}"
            )
        if self.kind == "heads" and self.heads is None:
            raise ValueError("kind: heads needs a heads: section (candidates, kinds, c_grid)")
        if sorted(self.milestones) != self.milestones:
            raise ValueError(f"milestones must be increasing, got {self.milestones}")
        return self

    def per_device_batch(self, world_size: int) -> int:
        """The batch each process runs per forward pass, for ``world_size`` processes."""
        micro = self.batch_size // self.accumulate
        if micro % world_size:
            raise ConfigError(
                f"batch_size {self.batch_size} / accumulate {self.accumulate} = {micro} clips "
                f"per step does not divide over {world_size} processes"
            )
        return micro // world_size

    def summary(self) -> str:
        """One line for ``train``'s header: what this preset will actually do."""
        if self.kind == "heads" and self.heads is not None:
            h = self.heads
            return (
                f"{self.name}: heads on frozen features, candidates "
                f"{', '.join(h.candidates)}; heads {', '.join(h.kinds)}; "
                f"C in {', '.join(f'{c:g}' for c in h.c_grid)}; {h.inner_folds}-fold inner CV"
                f"{', fusion' if h.fuse else ''}"
            )
        if self.kind == "svm":
            params = ", ".join(f"{k}={v}" for k, v in self.svm.items())
            return (
                f"{self.name}: SVM ({params}) on frozen {self.model} features "
                f"({self.weights or 'random init'}), {self.frames}x{self.size}^2"
            )
        return (
            f"{self.name}: {self.model} ({self.weights or 'random init'}), {self.modality}, "
            f"{self.frames}x{self.size}^2, batch {self.batch_size} (accumulate {self.accumulate})"
            f", lr {self.lr}, wd {self.weight_decay}, steps {self.steps}"
        )


def _preset_dir() -> Any:
    return resources.files("smokewatch") / "configs"


def list_presets() -> list[str]:
    """Names of the built-in presets (``rgb-i3d``, ``cpu-small``, ...), sorted."""
    return sorted(p.name[:-5] for p in _preset_dir().iterdir() if p.name.endswith(".yaml"))


def _parse(text: str, origin: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping of settings, got {type(data).__name__}")
    return data


def _validate(data: dict[str, Any], origin: str) -> TrainConfig:
    try:
        return TrainConfig(**data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{origin}: {problems}") from None


def load_config(preset_or_path: str | os.PathLike[str]) -> TrainConfig:
    """A built-in preset by name, or a YAML file by path."""
    spec = str(preset_or_path)
    path = Path(spec)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        text = read_user_text(path, what="configuration file", error=ConfigError)
        data = _parse(text, str(path))
        data.setdefault("name", path.stem)
        return _validate(data, str(path))
    resource = _preset_dir() / f"{spec}.yaml"
    if not resource.is_file():
        raise ConfigError(f"unknown preset {spec!r}; presets: {', '.join(list_presets())}")
    return _validate(_parse(resource.read_text(encoding="utf-8"), spec), f"preset {spec}")


def apply_overrides(config: TrainConfig, overrides: list[str]) -> TrainConfig:
    """``key=value`` pairs (values in YAML syntax: ``steps=50``, ``milestones=[10,20]``)."""
    data = config.model_dump()
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not key=value")
        if key not in TrainConfig.model_fields:
            raise ConfigError(f"unknown setting {key!r} in override {item!r}")
        try:
            data[key] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: {exc}") from None
    return _validate(data, "overrides")
