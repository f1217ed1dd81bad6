"""The paper's training augmentation, on a whole batch of clips, on the model's device.

RISE (``i3d_learner.get_transform``) augments every training clip with ONE random draw applied
to all of its frames — a frame-by-frame draw would turn camera jitter into fake motion, which
is exactly what a smoke model must not learn. In its order:

1. colour jitter: brightness, contrast, saturation 0.3, hue ±0.1 (RGB only);
2. random resized crop to ``size`` (area 0.9–1, aspect 3/4–4/3);
3. a small random perspective (RISE: 3D rotations of ±3° about each axis and ±3° shear, which
   moves the corners by up to ~5% of the side; here kornia's area-preserving corner jitter,
   ``distortion_scale=0.1``, i.e. each corner ±5% of the side, filled with black / no motion);
4. horizontal flip, p 0.5 (flow: the x component changes sign, otherwise a flipped clip would
   show smoke drifting one way with flow saying the other);
5. normalisation to [-1, 1] (``v / 127.5 - 1``);
6. random erasing twice, each p 0.5, area 0.003–0.01, aspect 0.3–3.3, filled with 0 (mid-grey /
   no motion, since RISE erased after normalising) — dirt or a spider on the lens.

Evaluation (``train=False``) and ``-ND`` (``augment=False``) only resize to ``size`` and
normalise. ``-FP`` (``perturb_frames=True``) shuffles each clip's frame order with its own
random permutation, in training *and* evaluation (RISE perturbed its cached clips on disk).

How one draw covers all frames, cheaply: a ``[B, C, T, H, W]`` batch is viewed as ``B`` images
and every kornia augmentation draws one parameter set per image. Colour ops see each clip as
one tall ``[3, T*H, W]`` image (per-pixel ops, so identical to per-frame; contrast blends with
the clip's grey mean instead of each frame's); geometric ops and erasing see ``[C*T, H, W]``,
so one sampling grid / one box is shared by every channel of every frame. This computes one
grid per clip, where ``VideoSequential(same_on_frame=True)`` repeats the parameters per frame.

Randomness: every draw (kornia's parameters, the flip coin, the frame permutation) comes from
torch's global **CPU** generator, whatever device the batch is on — kornia samples on the CPU
by default and :meth:`VideoAugment._apply` keeps it there after ``.to(device)`` — so
``torch.manual_seed`` reproduces a run and ``torch.get_rng_state`` is all a checkpoint needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import kornia.augmentation as K
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["VideoAugment", "normalize", "permute_frames", "resize"]

Modality = Literal["rgb", "flow"]

#: RISE's parameters (``i3d_learner.get_transform``).
JITTER = {"brightness": 0.3, "contrast": 0.3, "saturation": 0.3, "hue": 0.1}
CROP_SCALE = (0.9, 1.0)
CROP_RATIO = (3.0 / 4.0, 4.0 / 3.0)
PERSPECTIVE = 0.1
FLIP_P = 0.5
ERASE_P = 0.5
ERASE_SCALE = (0.003, 0.01)
ERASE_RATIO = (0.3, 3.3)


def normalize(video: Tensor) -> Tensor:
    """uint8 (or float in [0, 255]) -> float32 in [-1, 1]: ``v / 127.5 - 1`` (RISE's scaling).

    For flow cached as RISE did (:func:`smokewatch.models.flow.flow_to_uint8`) this is the
    flow in units of the ±20 px bound.
    """
    return video.to(torch.float32) / 127.5 - 1.0


def resize(video: Tensor, size: int) -> Tensor:
    """``[B, C, T, H, W]`` -> ``[B, C, T, size, size]``, bilinear (antialiased when shrinking).

    Bilinear weights are non-negative, so values stay within the input's range.
    """
    b, c, t, h, w = video.shape
    if (h, w) == (size, size):
        return video
    flat = video.reshape(b, c * t, h, w)
    out = F.interpolate(
        flat,
        size=(size, size),
        mode="bilinear",
        align_corners=False,
        antialias=size < h or size < w,
    )
    return out.view(b, c, t, size, size)


def permute_frames(video: Tensor) -> Tensor:
    """Each clip of ``[B, C, T, H, W]`` with its frames in its own random order (``-FP``)."""
    b, c, t, h, w = video.shape
    order = torch.argsort(torch.rand(b, t), dim=1).to(video.device)  # CPU RNG, see module doc
    index = order.view(b, 1, t, 1, 1).expand(b, c, t, h, w)
    return torch.gather(video, 2, index)


class VideoAugment(torch.nn.Module):
    """Clips ``[B, C, T, H, W]`` in [0, 255] -> float32 ``[B, C, T, size, size]`` in [-1, 1].

    ``train and augment``: RISE's augmentation (see the module doc), one draw per clip.
    Otherwise resize and normalise only (deterministic unless ``perturb_frames``). ``C`` is 3
    for ``modality="rgb"`` and 2 (x, y) for ``"flow"``. Put it on the model's device and call
    it on each batch there; it has no parameters or buffers.
    """

    def __init__(
        self,
        size: int = 224,
        *,
        train: bool = True,
        augment: bool = True,
        perturb_frames: bool = False,
        modality: Modality = "rgb",
    ) -> None:
        super().__init__()
        if modality not in ("rgb", "flow"):
            raise ValueError(f"modality must be 'rgb' or 'flow', got {modality!r}")
        if size < 8:
            raise ValueError(f"size must be at least 8 pixels, got {size}")
        self.size = size
        self.train(train)
        self.augment = augment
        self.perturb_frames = perturb_frames
        self.modality: Modality = modality
        self.jitter = K.ColorJitter(**JITTER, p=1.0) if modality == "rgb" else None
        self.crop = K.RandomResizedCrop((size, size), scale=CROP_SCALE, ratio=CROP_RATIO)
        self.perspective = K.RandomPerspective(
            PERSPECTIVE, p=1.0, sampling_method="area_preserving"
        )
        self.erase = torch.nn.ModuleList(
            K.RandomErasing(scale=ERASE_SCALE, ratio=ERASE_RATIO, value=0.0, p=ERASE_P)
            for _ in range(2)
        )

    @property
    def channels(self) -> int:
        return 3 if self.modality == "rgb" else 2

    def extra_repr(self) -> str:
        return (
            f"size={self.size}, train={self.training}, augment={self.augment}, "
            f"perturb_frames={self.perturb_frames}, modality={self.modality!r}"
        )

    def _apply(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> VideoAugment:
        """Move as asked, but keep kornia's random draws on the CPU generator (module doc)."""
        out: VideoAugment = super()._apply(fn, *args, **kwargs)  # type: ignore[no-untyped-call]
        for module in self.modules():
            generator = getattr(module, "_param_generator", None)
            if generator is not None and hasattr(generator, "set_rng_device_and_dtype"):
                generator.set_rng_device_and_dtype(torch.device("cpu"), torch.float32)
        return out

    def _check(self, video: Tensor) -> None:
        if video.ndim != 5:
            raise ValueError(f"expected a [B, C, T, H, W] batch, got shape {tuple(video.shape)}")
        if video.shape[1] != self.channels:
            raise ValueError(
                f"{self.modality} clips have {self.channels} channels, got shape "
                f"{tuple(video.shape)} (a [B, T, H, W, C] batch needs permute(0, 4, 1, 2, 3))"
            )

    def forward(self, video: Tensor) -> Tensor:
        self._check(video)
        x = video.to(torch.float32)
        if self.perturb_frames:
            x = permute_frames(x)
        if not (self.training and self.augment):
            return resize(normalize(x), self.size)
        return self._augment(x)

    def _augment(self, x: Tensor) -> Tensor:
        b, c, t, h, w = x.shape
        s = self.size
        if self.jitter is not None:
            # One tall image per clip: per-pixel colour ops with one draw per clip.
            x = self.jitter((x / 255.0).reshape(b, c, t * h, w)).reshape(b, c, t, h, w)
            x = x * 2.0 - 1.0  # [0, 1] -> [-1, 1], as normalize() does for [0, 255]
        else:
            x = normalize(x)
        # Geometry in [-1, 1] would fill with grey; RISE filled RGB with black, so shift RGB
        # to [0, 2] (0 = black) while warping. Flow stays centred: 0 fill = no motion.
        offset = 1.0 if self.modality == "rgb" else 0.0
        flat = (x + offset).reshape(b, c * t, h, w)
        flat = self.perspective(self.crop(flat))
        flip = (torch.rand(b) < FLIP_P).to(flat.device)
        flat = torch.where(flip.view(b, 1, 1, 1), flat.flip(-1), flat)
        flat = flat - offset
        if self.modality == "flow":
            sign = torch.ones(b, c, 1, 1, 1, device=flat.device)
            sign[:, 0] = torch.where(flip, -1.0, 1.0).view(b, 1, 1, 1)
            flat = (flat.view(b, c, t, s, s) * sign).view(b, c * t, s, s)
        for erase in self.erase:
            flat = erase(flat)
        return flat.clamp_(-1.0, 1.0).view(b, c, t, s, s)
