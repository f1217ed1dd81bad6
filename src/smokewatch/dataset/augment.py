"""The paper's training augmentation, on a whole batch of clips, on the model's device.

RISE (``base_learner.get_transform``) augments every training clip with ONE random draw applied
to all of its frames — a frame-by-frame draw would turn camera jitter into fake motion, which
is exactly what a smoke model must not learn. In its order:

1. colour jitter (RGB only): brightness, contrast, saturation 0.3, hue ±0.1 of a turn and
   gamma, an exponent in 0.7–1.3; the five in a random order per clip;
2. random resized crop to ``size`` (area 0.9–1, aspect 3/4–4/3), resampled bilinearly (RISE's
   transforms resized bicubically; bilinear stays within the input's range, needs no clamp,
   and is what ``grid_sample`` fuses with the other warps);
3. a small random perspective (RISE: 3D rotations of ±3° about each axis and ±3° shear, which
   moves the corners by up to ~5% of the side; here kornia's area-preserving corner jitter,
   ``distortion_scale=0.1``: each corner ±5% of the side), filled with black / no motion;
4. horizontal flip, p 0.5 (flow: the x component changes sign, otherwise a flipped clip would
   show smoke drifting one way with flow saying the other);
5. normalisation to [-1, 1] (``v / 127.5 - 1``);
6. random erasing twice, each p 0.5, area 0.003–0.01, aspect 0.3–3.3, filled with 0 (mid-grey /
   no motion, since RISE erased after normalising) — dirt or a spider on the lens.

Evaluation (``train=False``) and ``-ND`` (``augment=False``) only resize to ``size`` and
normalise. ``-FP`` (``perturb_frames=True``) shuffles each clip's frame order with its own
random permutation, in training *and* evaluation (RISE perturbed its cached clips on disk); in
evaluation the permutation is drawn from ``seed`` and the clip's pixels (:func:`clip_seeds`),
so a clip scores the same in any batch and any listing order.

How, and why this way: the parameters are kornia's (its ``ResizedCropGenerator``,
``PerspectiveGenerator`` and ``RectangleEraseGenerator``, one draw per clip), but they are
applied fused, because on a CPU the straightforward kornia pipeline (``ColorJitter``,
``RandomResizedCrop``, ``RandomPerspective``, ``RandomErasing`` on ``[B, C*T, H, W]``) made
~40 passes over every pixel and was 4x *slower* than RISE's per-frame PIL loop:

* four of the five colour steps are linear in RGB, so per clip those before gamma compose into
  ONE 3x3 matrix and offset (with ``/ 255`` folded in) and those after it into a second one,
  each applied by one batched matrix product; gamma (``x ** g`` on [0, 1], torchvision's
  ``adjust_gamma``) is one elementwise power in between. Brightness, contrast and saturation
  (blend with grey) are torchvision's formulas, except that contrast blends with the grey mean
  of the whole clip where RISE's per-frame transforms used each frame's own mean (one value
  per clip keeps the draw identical for every frame). Before gamma that mean is carried
  through the linear steps from the input's mean colour; after gamma it is measured, since
  gamma is not linear. Hue is a rotation about the grey axis (the linear form of an HSV hue
  shift; grey stays grey). Unlike torchvision the values are clamped to [0, 1] only before
  gamma and after the last step, not between the linear steps;
* crop-and-resize, perspective and flip are all homographies: per clip they compose into ONE
  matrix and every frame and channel is resampled in one ``kornia.geometry.warp_perspective``
  (one sampling grid per clip, bilinear, zeros outside = black / no motion);
* erasing writes two small boxes per clip instead of blending whole tensors.

Randomness: every training draw (kornia's generators, the colour factors and order, the
flip coin, the erase coins, the frame permutation) comes from torch's **CPU** generator,
whatever device the batch is on — :meth:`VideoAugment._apply` keeps kornia's samplers on the
CPU after ``.to(device)``. Called with ``keys`` (one integer per clip; training passes each
clip's place in the sampling stream, :func:`smokewatch.training.sampling.draw_key`), each clip
draws from its own generator seeded by its key, so a clip is augmented the same way whatever
batch it is in and whichever process of a ``torchrun`` job takes it: one process with batch
``B`` and two with ``B/2`` train on the same augmented clips. Without ``keys`` the draws come
from the global generator in one batched pass (``torch.manual_seed`` reproduces them).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Collection, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from kornia.augmentation import random_generator as rg
from kornia.geometry.transform import get_perspective_transform
from torch import Tensor

__all__ = [
    "STEPS",
    "VideoAugment",
    "clip_seeds",
    "colour_matrices",
    "normalize",
    "permute_frames",
    "resize",
]

Modality = Literal["rgb", "flow"]

#: The training steps, in the order they apply; ``VideoAugment(steps=...)`` picks a subset.
STEPS: tuple[str, ...] = ("jitter", "crop", "perspective", "flip", "erase")

#: RISE's parameters (``base_learner.get_transform``): factors in [1 - x, 1 + x], hue ±x turns,
#: gamma exponent in [1 - x, 1 + x].
BRIGHTNESS = CONTRAST = SATURATION = 0.3
HUE = 0.1
GAMMA = 0.3
#: The colour steps, as ``order`` indices: 0-3 are affine in RGB, 4 (gamma) is not.
_GAMMA_STEP = 4
CROP_SCALE = (0.9, 1.0)
CROP_RATIO = (3.0 / 4.0, 4.0 / 3.0)
PERSPECTIVE = 0.1
FLIP_P = 0.5
ERASE_P = 0.5
ERASE_SCALE = (0.003, 0.01)
ERASE_RATIO = (0.3, 3.3)


def normalize(video: Tensor) -> Tensor:
    """uint8 (or float in [0, 255]) -> float32 in [-1, 1]: ``v / 127.5 - 1`` (RISE's scaling).

    For flow cached as RISE did (:func:`smokewatch.dataset.flow.flow_to_uint8`) this is the
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


def clip_seeds(video: Tensor, seed: int) -> list[int]:
    """One seed per clip of a ``[B, ...]`` batch in [0, 255]: a hash of ``seed`` and its pixels.

    What makes ``-FP``'s evaluation-time shuffle a property of the clip alone: the same clip
    gets the same frame order whatever batch, position or listing order it comes in, and
    whether it was read from a file or cropped in memory (detection). The pixels are the
    clip's identity here because in-memory clips have no name.
    """
    data = video.detach().to("cpu")
    if data.is_floating_point():
        data = data.round().clamp(0, 255)
    raw = data.to(torch.uint8).contiguous().numpy()
    key = str(int(seed)).encode()
    return [
        int.from_bytes(hashlib.blake2b(clip.tobytes(), digest_size=8, key=key).digest(), "little")
        >> 1
        for clip in raw
    ]


def permute_frames(video: Tensor, seeds: Sequence[int] | None = None) -> Tensor:
    """Each clip of ``[B, C, T, H, W]`` with its frames in its own random order (``-FP``).

    ``seeds`` (one per clip, e.g. :func:`clip_seeds`): each clip's order from its own
    generator, so it does not depend on the batch; None: from the global CPU generator
    (training, whose draws a checkpoint restores; see the module doc).
    """
    b, c, t, h, w = video.shape
    if seeds is None:
        order = torch.argsort(torch.rand(b, t), dim=1)  # CPU RNG, see module doc
    else:
        if len(seeds) != b:
            raise ValueError(f"{len(seeds)} seeds for a batch of {b} clips")
        order = torch.stack(
            [torch.randperm(t, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
        )
    index = order.to(video.device).view(b, 1, t, 1, 1).expand(b, c, t, h, w)
    return torch.gather(video, 2, index)


#: torchvision's grey: ``0.299 R + 0.587 G + 0.114 B``.
_GREY = (0.299, 0.587, 0.114)


def colour_matrices(
    factors: Tensor, order: Tensor | Sequence[Sequence[int]], mean_rgb: Tensor
) -> tuple[Tensor, Tensor]:
    """Compose per-clip colour jitter into one affine map: ``rgb' = A @ rgb + a``.

    ``factors`` ``[B, 4+]``: brightness, contrast, saturation (multipliers, 1 = unchanged) and
    hue (turns, 0 = unchanged); ``order`` ``[B, 4]`` or one list per clip (of any length):
    the steps to apply, in order (indices into those four; gamma, index 4, is not affine and
    is applied between two such maps by :class:`VideoAugment`); ``mean_rgb`` ``[B, 3]``: each
    clip's mean colour, which the contrast step needs (it blends with the grey mean of the
    image *as it is at that step*; every step is affine, so that mean is the running affine
    map of the input's mean). Values in [0, 1].
    Returns ``A`` ``[B, 3, 3]`` and ``a`` ``[B, 3]``; all in float64 for exact composition.
    """
    b = factors.shape[0]
    f = factors.to(torch.float64)
    grey = torch.tensor(_GREY, dtype=torch.float64)
    eye = torch.eye(3, dtype=torch.float64)
    ones = torch.ones(3, dtype=torch.float64)
    k = ones / math.sqrt(3.0)
    cross = torch.tensor(
        [[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]], dtype=torch.float64
    ) / math.sqrt(3.0)
    A = eye.repeat(b, 1, 1)
    a = torch.zeros(b, 3, dtype=torch.float64)
    mu = mean_rgb.to(torch.float64).clone()
    for i in range(b):
        steps = order[i].tolist() if isinstance(order, Tensor) else list(order[i])
        if _GAMMA_STEP in steps:
            raise ValueError("gamma is not affine: split the order at it (VideoAugment does)")
        for step in steps:
            v = torch.zeros(3, dtype=torch.float64)
            if step == 0:  # brightness: x * f
                m = f[i, 0] * eye
            elif step == 1:  # contrast: blend with the grey mean
                m = f[i, 1] * eye
                v = (1 - f[i, 1]) * (grey @ mu[i]) * ones
            elif step == 2:  # saturation: blend with the pixel's grey
                m = f[i, 2] * eye + (1 - f[i, 2]) * torch.outer(ones, grey)
            else:  # hue: rotate about the grey axis by f turns (Rodrigues)
                theta = 2 * math.pi * float(f[i, 3])
                m = (
                    math.cos(theta) * eye
                    + math.sin(theta) * cross
                    + (1 - math.cos(theta)) * torch.outer(k, k)
                )
            A[i] = m @ A[i]
            a[i] = m @ a[i] + v
            mu[i] = m @ mu[i] + v
    return A, a


#: One batch's random choices: colour factors, colour order, homographies, flips, erase boxes.
_Draws = tuple[Tensor, Tensor, Tensor, Tensor, list[tuple[int, int, int, int, int]]]


class VideoAugment(torch.nn.Module):
    """Clips ``[B, C, T, H, W]`` in [0, 255] -> float32 ``[B, C, T, size, size]`` in [-1, 1].

    ``train and augment``: RISE's augmentation (see the module doc), one draw per clip;
    ``steps`` picks a subset of :data:`STEPS` (for ablations and tests; default all; colour
    jitter never applies to flow). Otherwise resize and normalise only (deterministic unless
    ``perturb_frames``). ``C`` is 3 for ``modality="rgb"`` and 2 (x, y) for ``"flow"``. Put it
    on the model's device and call it on each batch there; it has no parameters or buffers,
    and ``.train()`` / ``.eval()`` switch it like any module.
    """

    def __init__(
        self,
        size: int = 224,
        *,
        train: bool = True,
        augment: bool = True,
        perturb_frames: bool = False,
        modality: Modality = "rgb",
        steps: Collection[str] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if modality not in ("rgb", "flow"):
            raise ValueError(f"modality must be 'rgb' or 'flow', got {modality!r}")
        if size < 8:
            raise ValueError(f"size must be at least 8 pixels, got {size}")
        chosen = set(STEPS if steps is None else steps)
        if unknown := chosen - set(STEPS):
            raise ValueError(f"unknown steps {sorted(unknown)}; choose from {', '.join(STEPS)}")
        if modality == "flow":
            chosen.discard("jitter")
        self.size = size
        self.train(train)
        self.augment = augment
        self.perturb_frames = perturb_frames
        self.modality: Modality = modality
        self.steps = frozenset(chosen)
        self.seed = seed
        self.crop = rg.ResizedCropGenerator((size, size), CROP_SCALE, CROP_RATIO)
        self.perspective = rg.PerspectiveGenerator(PERSPECTIVE, sampling_method="area_preserving")
        self.erase = rg.RectangleEraseGenerator(ERASE_SCALE, ERASE_RATIO, 0.0)
        self._work: dict[int, Tensor] = {}

    @property
    def channels(self) -> int:
        return 3 if self.modality == "rgb" else 2

    def extra_repr(self) -> str:
        steps = ", ".join(s for s in STEPS if s in self.steps)
        return (
            f"size={self.size}, train={self.training}, augment={self.augment}, "
            f"perturb_frames={self.perturb_frames}, modality={self.modality!r}, steps=({steps})"
        )

    def _apply(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> VideoAugment:
        """Move as asked, but keep kornia's random draws on the CPU generator (module doc)."""
        out: VideoAugment = super()._apply(fn, *args, **kwargs)  # type: ignore[no-untyped-call]
        for generator in (self.crop, self.perspective, self.erase):
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

    def forward(self, video: Tensor, keys: Sequence[int] | None = None) -> Tensor:
        """The batch ready for a model; ``keys`` (training): one draw key per clip (module doc)."""
        self._check(video)
        if keys is not None and len(keys) != video.shape[0]:
            raise ValueError(f"{len(keys)} keys for a batch of {video.shape[0]} clips")
        x = video.to(torch.float32)
        if self.perturb_frames:
            # evaluation: each clip's own order (clip_seeds); training: the clip's key, or the
            # global generator
            if not self.training:
                seeds: Sequence[int] | None = clip_seeds(video, self.seed)
            else:
                seeds = None if keys is None else [_salted(k, "frames") for k in keys]
            x = permute_frames(x, seeds)
        if not (self.training and self.augment):
            return resize(normalize(x), self.size)
        return self._augment(x, keys)

    def _draw_colour(self, b: int) -> tuple[Tensor, Tensor]:
        """Per clip: factors [B, 5] (b, c, s multipliers; hue in turns; gamma exponent) and a
        random order of the five steps (RISE's ColorJitter shuffles them per clip)."""
        base = torch.tensor([1.0, 1.0, 1.0, 0.0, 1.0])
        if "jitter" not in self.steps:
            return base.repeat(b, 1), torch.arange(5).repeat(b, 1)
        u = torch.rand(b, 5) * 2 - 1
        spread = torch.tensor([BRIGHTNESS, CONTRAST, SATURATION, HUE, GAMMA])
        return base + u * spread, torch.argsort(torch.rand(b, 5), dim=1)

    def _colour(self, src: Tensor, work: Tensor, factors: Tensor, order: Tensor) -> Tensor:
        """RGB jitter of ``src`` [B, 3, N] in [0, 255] into [0, 2] (0 = black); returns the
        buffer holding it (``work`` or ``src``, whose contents are then spent).

        The affine steps before gamma compose into one map (contrast's grey mean from the
        input's mean), the result is clamped to [0, 1] and raised to the clip's gamma, and the
        steps after gamma compose into a second map whose contrast uses the mean of the image
        as gamma left it (measured: gamma is not affine, so it cannot be carried through).
        """
        b = src.shape[0]
        device = src.device
        rows = order.tolist()
        gamma = factors[:, _GAMMA_STEP]
        mean = src.mean(dim=2).to("cpu", torch.float64) / 255.0
        if bool((gamma == 1).all()):  # no jitter (or no gamma to apply): one map, one pass
            affine = [[k for k in row if k != _GAMMA_STEP] for row in rows]
            A, a = colour_matrices(factors, affine, mean)
            A = (A * (2.0 / 255.0)).to(device=device, dtype=torch.float32)
            a = (a * 2.0).to(device=device, dtype=torch.float32)
            return torch.baddbmm(a.unsqueeze(2), A, src, out=work).clamp_(0.0, 2.0)
        cut = [row.index(_GAMMA_STEP) for row in rows]
        A, a = colour_matrices(factors, [row[:k] for row, k in zip(rows, cut, strict=True)], mean)
        A = (A / 255.0).to(device=device, dtype=torch.float32)
        a = a.to(device=device, dtype=torch.float32)
        torch.baddbmm(a.unsqueeze(2), A, src, out=work).clamp_(0.0, 1.0)
        work.pow_(gamma.to(device=device, dtype=torch.float32).view(b, 1, 1))
        mean = work.mean(dim=2).to("cpu", torch.float64)
        after = [row[k + 1 :] for row, k in zip(rows, cut, strict=True)]
        A, a = colour_matrices(factors, after, mean)
        A = (A * 2.0).to(device=device, dtype=torch.float32)
        a = (a * 2.0).to(device=device, dtype=torch.float32)
        return torch.baddbmm(a.unsqueeze(2), A, work, out=src).clamp_(0.0, 2.0)

    def _geometry(self, b: int, h: int, w: int) -> tuple[Tensor, Tensor]:
        """Per clip: the input->output pixel homography [B, 3, 3] and the flip coin [B]."""
        s = self.size
        if "crop" in self.steps:
            crop = self.crop((b, 1, h, w))
            src, dst = crop["src"], crop["dst"]
        else:  # plain resize: the whole frame onto the output
            src = torch.tensor(
                [[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=torch.float32
            )
            dst = torch.tensor(
                [[0, 0], [s - 1, 0], [s - 1, s - 1], [0, s - 1]], dtype=torch.float32
            )
            src, dst = src.expand(b, 4, 2), dst.expand(b, 4, 2)
        m = get_perspective_transform(src, dst)
        if "perspective" in self.steps:
            corners = self.perspective((b, 1, s, s))
            m = get_perspective_transform(corners["start_points"], corners["end_points"]) @ m
        flip = torch.zeros(b, dtype=torch.bool)
        if "flip" in self.steps:
            flip = torch.rand(b) < FLIP_P
            mirror = torch.tensor([[-1.0, 0.0, s - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
            m = torch.where(flip.view(b, 1, 1), mirror @ m, m)
        return m, flip

    def _draw_erase(self, b: int) -> list[tuple[int, int, int, int, int]]:
        """(clip, y, x, height, width) of each box to erase, for two erasings at p 0.5."""
        if "erase" not in self.steps:
            return []
        boxes = []
        for _ in range(2):
            hit = torch.rand(b) < ERASE_P
            p = self.erase((b, 1, self.size, self.size))
            rows = torch.stack([p["ys"], p["xs"], p["heights"], p["widths"]], dim=1).long()
            boxes += [(i, *rows[i].tolist()) for i in range(b) if hit[i]]
        return boxes

    def _scratch(self, slot: int, shape: tuple[int, ...], device: torch.device) -> Tensor:
        """A float32 work buffer, kept between calls on the CPU.

        Writing a fresh 50-100 MB tensor costs more in page faults than in arithmetic on this
        kind of machine (first touch of memory is several times slower than an in-place pass
        over it); on a GPU the caching allocator already reuses memory, so nothing is kept.
        """
        if device.type != "cpu":
            return torch.empty(shape, device=device)
        buf = self._work.get(slot)
        if buf is None or buf.shape != shape:
            buf = self._work[slot] = torch.empty(shape)
        return buf

    def _draw(self, b: int, h: int, w: int) -> _Draws:
        """Every random choice for ``b`` clips, from the global CPU generator, in a fixed order."""
        factors, order = self._draw_colour(b)
        m, flip = self._geometry(b, h, w)
        return factors, order, m, flip, self._draw_erase(b)

    def _draw_keyed(self, keys: Sequence[int], h: int, w: int) -> _Draws:
        """:meth:`_draw` clip by clip, each from a generator seeded by its key (module doc)."""
        parts = []
        for k in keys:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(_salted(k, "augment"))
                parts.append(self._draw(1, h, w))
        factors = torch.cat([p[0] for p in parts])
        order = torch.cat([p[1] for p in parts])
        m = torch.cat([p[2] for p in parts])
        flip = torch.cat([p[3] for p in parts])
        boxes = [(i, *box[1:]) for i, p in enumerate(parts) for box in p[4]]
        return factors, order, m, flip, boxes

    def _augment(self, x: Tensor, keys: Sequence[int] | None = None) -> Tensor:
        b, c, t, h, w = x.shape
        s = self.size
        device = x.device
        # All draws first, on the CPU, in a fixed order.
        draws = self._draw(b, h, w) if keys is None else self._draw_keyed(keys, h, w)
        factors, order, m, flip, boxes = draws

        shape = (b, c, t * h * w)
        src = self._scratch(0, shape, device)
        src.copy_(x.reshape(shape))  # float32 [0, 255]
        work = self._scratch(1, shape, device)
        if self.modality == "rgb":
            # Colour jitter per clip, [0, 255] -> [0, 2] (0 = black, so the warp's zero fill
            # is black and one subtraction after it normalises): batched matmuls (_colour).
            work = self._colour(src, work, factors, order)
        else:
            # Flow to [-1, 1] (0 = still), x negated for mirrored clips.
            sign = torch.ones(b, c)
            sign[:, 0] = torch.where(flip, -1.0, 1.0)
            sign = sign.to(device).unsqueeze(2)
            torch.mul(src, sign / 127.5, out=work).sub_(sign)
        grid = _sampling_grid(m, (h, w), s).to(device)
        out = F.grid_sample(
            work.view(b, c * t, h, w),
            grid,
            mode="bilinear",
            padding_mode="zeros",
            align_corners=True,
        )  # zeros outside: black (RGB, still in [0, 2]) or no motion (flow)
        if self.modality == "rgb":
            out.sub_(1.0)
        for i, y0, x0, eh, ew in boxes:
            out[i, :, y0 : y0 + eh, x0 : x0 + ew] = 0.0
        return out.view(b, c, t, s, s)


def _salted(key: int, purpose: str) -> int:
    """A 63-bit seed for one use of a clip's draw key (its frame order, its augmentation), so
    the uses do not share a random stream."""
    digest = hashlib.blake2b(f"{int(key)}:{purpose}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def _sampling_grid(m: Tensor, in_hw: tuple[int, int], size: int) -> Tensor:
    """``grid_sample``'s grid [B, size, size, 2] for input->output pixel homographies ``m``.

    Each output pixel (x, y) samples the input at ``m^-1 (x, y, 1)``, in ``align_corners=True``
    normalised coordinates (-1 and 1 are the centres of the first and last pixels), as
    ``kornia.geometry.warp_perspective`` does; built here to skip its per-call overhead.
    """
    h, w = in_hw
    inv = torch.linalg.inv(m.to(torch.float64))
    r = torch.arange(size, dtype=torch.float64)
    ys, xs = torch.meshgrid(r, r, indexing="ij")
    pts = torch.stack([xs, ys, torch.ones_like(xs)], dim=-1).view(1, -1, 3)
    src = pts @ inv.transpose(1, 2)  # [B, size*size, 3]
    xy = src[..., :2] / src[..., 2:3]
    scale = torch.tensor([2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)], dtype=torch.float64)
    grid = xy * scale - 1.0
    out: Tensor = grid.view(-1, size, size, 2).to(torch.float32)
    return out
