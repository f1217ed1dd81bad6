"""dataset.augment: one random draw per clip for all its frames; evaluation only resizes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from smokewatch.dataset.augment import VideoAugment, colour_matrices, normalize, permute_frames

B, T, H, W = 4, 6, 32, 32


def _still_clips(b: int = B, c: int = 3, seed: int = 0) -> torch.Tensor:
    """uint8 [b, c, T, H, W] clips whose T frames are identical (textured, so warps show)."""
    g = torch.Generator().manual_seed(seed)
    frame = torch.randint(0, 256, (b, c, 1, H, W), generator=g, dtype=torch.uint8)
    return frame.expand(b, c, T, H, W).contiguous()


def _marked(c: int = 3) -> torch.Tensor:
    """One uint8 clip, dark with a bright left half: which side is bright says flipped or not."""
    x = torch.full((1, c, T, H, W), 40, dtype=torch.uint8)
    x[..., : W // 2] = 220
    return x


def _flip_only(**kw: object) -> VideoAugment:
    """Training augmentation with every random step but the flip left out."""
    return VideoAugment(H, steps={"flip"}, **kw)  # type: ignore[arg-type]


def test_normalize_maps_0_255_onto_minus_1_1() -> None:
    x = torch.tensor([0, 127, 128, 255], dtype=torch.uint8)
    y = normalize(x)
    assert y.dtype == torch.float32
    assert y[0] == -1.0 and y[-1] == 1.0
    assert torch.allclose(normalize(x.float()), y)


@pytest.mark.parametrize("modality", ["rgb", "flow"])
@pytest.mark.parametrize("train", [True, False])
def test_shape_dtype_and_range(modality: str, train: bool) -> None:
    torch.manual_seed(0)
    c = 3 if modality == "rgb" else 2
    aug = VideoAugment(40, train=train, modality=modality)  # type: ignore[arg-type]
    for x in (_still_clips(c=c), _still_clips(c=c).float()):
        y = aug(x)
        assert y.shape == (B, c, T, 40, 40) and y.dtype == torch.float32
        assert y.min() >= -1.0 and y.max() <= 1.0
        assert y.min() < -0.5 and y.max() > 0.5  # the full range is used, not squashed


def test_eval_and_no_augment_only_resize() -> None:
    x = _still_clips()
    expected = F.interpolate(
        normalize(x).reshape(B, 3 * T, H, W),
        size=(48, 48),
        mode="bilinear",
        align_corners=False,
    ).reshape(B, 3, T, 48, 48)
    for aug in (VideoAugment(48, train=False), VideoAugment(48, augment=False)):
        torch.manual_seed(1)
        a = aug(x)
        torch.manual_seed(2)
        b = aug(x)
        assert torch.equal(a, b), "evaluation must not depend on the RNG"
        assert torch.allclose(a, expected, atol=1e-6)
    same_size = VideoAugment(H, train=False)(x)
    assert torch.equal(same_size, normalize(x))


def test_module_train_eval_switch() -> None:
    aug = VideoAugment(H)
    x = _still_clips()
    aug.eval()
    assert torch.equal(aug(x), normalize(x))
    aug.train()
    assert not torch.equal(aug(x), normalize(x))


@pytest.mark.parametrize("modality", ["rgb", "flow"])
def test_one_draw_per_clip_is_shared_by_all_frames(modality: str) -> None:
    """Frames that were identical stay identical: colour, crop, warp, flip, erasing alike."""
    c = 3 if modality == "rgb" else 2
    x = _still_clips(b=8, c=c)
    aug = VideoAugment(24, modality=modality)  # type: ignore[arg-type]
    for seed in range(3):
        torch.manual_seed(seed)
        y = aug(x)
        assert not torch.allclose(
            y,
            F.interpolate(normalize(x).reshape(8, c * T, H, W), size=(24, 24)).reshape(y.shape),
            atol=0.05,
        )
        for t in range(1, T):
            # equal up to float rounding (vectorised kernels round per channel position)
            assert torch.allclose(y[:, :, t], y[:, :, 0], atol=1e-5), f"frame {t} got its own draw"


def test_clips_in_a_batch_get_different_draws() -> None:
    x = _still_clips(b=1).expand(B, 3, T, H, W).contiguous()  # four copies of one clip
    torch.manual_seed(0)
    y = VideoAugment(24)(x)
    for i in range(B):
        for j in range(i + 1, B):
            assert (y[i] - y[j]).abs().max() > 0.05, f"clips {i} and {j} got the same draw"


def test_same_seed_same_output_and_rng_state_restores() -> None:
    x = _still_clips()
    aug = VideoAugment(24)
    torch.manual_seed(5)
    a = aug(x)
    state = torch.get_rng_state()
    b = aug(x)
    torch.manual_seed(5)
    assert torch.equal(aug(x), a)
    torch.set_rng_state(state)
    assert torch.equal(aug(x), b)
    assert not torch.equal(a, b)


def test_a_keyed_clip_is_augmented_alike_in_any_batch() -> None:
    """What makes two torchrun processes train on one process's augmented clips: a clip's draw
    depends on its key alone, not on the batch, its place in it or the global generator."""
    x = _still_clips()
    aug = VideoAugment(24, perturb_frames=True)
    keys = [11, 12, 13, 14]
    before = torch.get_rng_state()
    whole = aug(x, keys=keys)
    assert torch.equal(torch.get_rng_state(), before)  # the global stream is left alone
    torch.manual_seed(99)  # another global state changes nothing
    halves = torch.cat([aug(x[2:], keys=keys[2:]), aug(x[:2], keys=keys[:2])])
    assert torch.allclose(whole, torch.cat([halves[2:], halves[:2]]), atol=1e-6)
    for i in range(B):
        alone = aug(x[i : i + 1], keys=keys[i : i + 1])
        assert torch.allclose(alone[0], whole[i], atol=1e-6)


def test_keys_decide_the_draw() -> None:
    x = _still_clips(b=1).expand(2, 3, T, H, W).contiguous()  # one clip twice
    aug = VideoAugment(24)
    same = aug(x, keys=[5, 5])
    assert torch.equal(same[0], same[1])
    other = aug(x, keys=[5, 6])
    assert (other[0] - other[1]).abs().max() > 0.05
    with pytest.raises(ValueError, match="2 keys for a batch of 4"):
        aug(_still_clips(), keys=[1, 2])


def test_draws_stay_on_the_cpu_generator_after_to() -> None:
    aug = VideoAugment(24).to(torch.float64).to("cpu")
    for generator in (aug.crop, aug.perspective, aug.erase):
        assert generator.device == torch.device("cpu")
        assert generator.dtype == torch.float32


def test_flip_mirrors_the_clip_about_half_the_time() -> None:
    aug = _flip_only()
    x = _marked().expand(64, 3, T, H, W)
    torch.manual_seed(0)
    y = aug(x)
    plain = normalize(x[:1])
    # equal up to float rounding: the identity geometry still goes through the sampler
    flipped = ((y - plain.flip(-1)).abs() < 1e-4).flatten(1).all(1)
    kept = ((y - plain).abs() < 1e-4).flatten(1).all(1)
    assert bool((flipped ^ kept).all()), "each clip is either mirrored whole or not at all"
    assert 16 <= int(flipped.sum()) <= 48


def test_full_augmentation_flips_with_a_marker() -> None:
    """With every other step on, the bright side still says which clips were mirrored."""
    x = _marked().expand(64, 3, T, H, W)
    torch.manual_seed(0)
    y = VideoAugment(H)(x)
    left = y[..., : W // 4].mean(dim=(1, 3, 4))  # [64, T]
    right = y[..., -W // 4 :].mean(dim=(1, 3, 4))
    mirrored = right > left
    assert bool((mirrored == mirrored[:, :1]).all()), "a clip's frames disagree on the flip"
    assert 16 <= int(mirrored[:, 0].sum()) <= 48


def test_flow_flip_negates_x() -> None:
    aug = _flip_only(modality="flow")
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (32, 2, T, H, W), generator=g, dtype=torch.uint8)
    torch.manual_seed(0)
    y = aug(x)
    n = normalize(x)

    def same(a: torch.Tensor, b: torch.Tensor) -> bool:
        return bool(torch.allclose(a, b, atol=1e-4))

    flipped = torch.tensor([same(y[i, 1], n[i, 1].flip(-1)) for i in range(32)])
    assert 0 < int(flipped.sum()) < 32
    for i in range(32):
        if flipped[i]:
            assert same(y[i, 0], -n[i, 0].flip(-1)), "x flow must change sign"
        else:
            assert same(y[i], n[i])


def test_flow_gets_no_colour_jitter_and_fills_mean_no_motion() -> None:
    """Zero flow (uint8 127.5 -> 0) stays zero through every step: no jitter, neutral fills."""
    aug = VideoAugment(24, modality="flow")
    assert "jitter" not in aug.steps
    x = torch.full((8, 2, T, H, W), 127.5)
    torch.manual_seed(0)
    y = aug(x)
    assert y.abs().max() < 1e-5


def test_rgb_is_colour_jittered() -> None:
    x = torch.full((8, 3, T, H, W), 128, dtype=torch.uint8)
    x[:, 0] = 200  # a reddish grey
    torch.manual_seed(0)
    y = VideoAugment(H)(x)
    centre = y[..., H // 2 - 2 : H // 2 + 2, W // 2 - 2 : W // 2 + 2].mean(dim=(2, 3, 4))
    assert centre.std(dim=0).min() > 0.01, "colour should differ between clips"


def test_random_erasing_zeroes_a_box_in_some_clips() -> None:
    x = torch.full((64, 3, T, H, W), 255, dtype=torch.uint8)
    aug = VideoAugment(H, steps={"crop", "perspective", "flip", "erase"})  # white stays 1
    torch.manual_seed(0)
    y = aug(x)
    centre = y[..., 4:-4, 4:-4]  # away from the perspective fill at the borders
    erased = (centre.abs() < 1e-6).flatten(1).any(1)
    # two boxes at p 0.5 each: 3/4 of the clips, some may fall on the border
    assert 24 <= int(erased.sum()) <= 60
    area = (y[0:1].abs() < 1e-6)[0, 0, 0].float().mean()
    assert area < 0.03  # 0.3%–1% of the frame per box


def _frame_order(y: torch.Tensor, i: int) -> tuple[int, ...]:
    """Clip ``i``'s frame order, for clips whose frame t is all ``40 t``."""
    return tuple(((y[i, 0, :, 0, 0] + 1) * 127.5 / 40).round().long().tolist())


def test_perturb_frames_permutes_each_clip() -> None:
    """Training: every clip its own draw from the global generator."""
    x = torch.arange(T, dtype=torch.float32).view(1, 1, T, 1, 1).expand(8, 3, T, H, W) * 40
    torch.manual_seed(0)
    y = VideoAugment(H, augment=False, perturb_frames=True)(x)
    orders = []
    for i in range(8):
        frame_values = ((y[i, 0, :, 0, 0] + 1) * 127.5 / 40).round().long()
        assert sorted(frame_values.tolist()) == list(range(T)), "frames lost or duplicated"
        per_frame = y[i].transpose(0, 1).flatten(1)  # [T, C*H*W]: whole frames moved
        assert torch.equal(per_frame.amin(1), per_frame.amax(1))
        orders.append(tuple(frame_values.tolist()))
    assert len(set(orders)) > 4, "each clip gets its own permutation"
    assert sum(o != tuple(range(T)) for o in orders) >= 6


def test_evaluation_frame_order_belongs_to_the_clip() -> None:
    """Evaluation: a clip's order comes from the seed and the clip, not its batch or slot."""
    frames = torch.arange(T, dtype=torch.float32).view(1, 1, T, 1, 1) * 40
    x = frames.expand(6, 3, T, H, W).clone()
    x[3:, 1] += 1.0  # clips 3-5 differ from clips 0-2 in one channel
    aug = VideoAugment(H, train=False, perturb_frames=True, seed=7)
    before = torch.get_rng_state()
    y = aug(x)
    assert torch.equal(torch.get_rng_state(), before), "no draw from the global generator"
    orders = [_frame_order(y, i) for i in range(6)]
    assert orders[0] == orders[1] == orders[2] and orders[3] == orders[4] == orders[5]
    assert orders[0] != orders[3] and orders[0] != tuple(range(T))
    alone = aug(x[4:5])  # another batch, another slot: the same order
    assert _frame_order(alone, 0) == orders[4]
    other_seed = VideoAugment(H, train=False, perturb_frames=True, seed=8)(x[:1])
    assert _frame_order(other_seed, 0) != orders[0]


def test_permute_frames_moves_whole_frames() -> None:
    x = torch.randn(3, 2, T, 5, 7)
    torch.manual_seed(0)
    y = permute_frames(x)
    for b in range(3):
        for t in range(T):
            assert any(torch.equal(y[b, :, t], x[b, :, s]) for s in range(T))


def test_bad_input_shapes() -> None:
    with pytest.raises(ValueError, match=r"\[B, C, T, H, W\]"):
        VideoAugment(24)(torch.zeros(3, T, H, W))
    with pytest.raises(ValueError, match="permute"):
        VideoAugment(24)(torch.zeros(1, T, H, W, 3))
    with pytest.raises(ValueError, match="2 channels"):
        VideoAugment(24, modality="flow")(torch.zeros(1, 3, T, H, W))


def _grey(x: torch.Tensor) -> torch.Tensor:
    return (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)


def test_colour_matrices_compose_torchvisions_formulas() -> None:
    """Brightness, contrast, saturation as torchvision defines them, in the order drawn."""
    g = torch.Generator().manual_seed(0)
    img = 0.3 + 0.4 * torch.rand(2, 3, 50, generator=g, dtype=torch.float64)  # no clamping
    factors = torch.tensor([[1.2, 0.8, 1.25, 0.0], [0.75, 1.3, 0.7, 0.0]])
    order = torch.tensor([[2, 0, 1, 3], [1, 3, 2, 0]])
    A, a = colour_matrices(factors, order, img.mean(dim=2))
    got = A @ img + a.unsqueeze(2)
    for i in range(2):
        x = img[i : i + 1]
        for step in order[i].tolist():
            f = float(factors[i, step])
            if step == 0:
                x = x * f
            elif step == 1:
                x = f * x + (1 - f) * _grey(x).mean()
            elif step == 2:
                x = f * x + (1 - f) * _grey(x)
        assert torch.allclose(got[i], x[0], atol=1e-9)


def test_hue_rotates_about_the_grey_axis() -> None:
    factors = torch.tensor([[1.0, 1.0, 1.0, 1 / 3], [1.0, 1.0, 1.0, 0.1]])
    A, a = colour_matrices(factors, torch.arange(4).repeat(2, 1), torch.zeros(2, 3))
    red = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    # a third of a turn takes red to green, as an HSV hue shift of +1/3 does
    assert torch.allclose(A[0] @ red, torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64), atol=1e-6)
    grey = torch.full((3,), 0.4, dtype=torch.float64)
    assert torch.allclose(A[1] @ grey, grey) and torch.allclose(a, torch.zeros_like(a))


def test_gamma_is_drawn_per_clip_in_rises_range_and_shuffled_with_the_others() -> None:
    torch.manual_seed(0)
    factors, order = VideoAugment(H)._draw_colour(2000)
    gamma = factors[:, 4]
    assert gamma.min() >= 0.7 and gamma.max() <= 1.3
    assert gamma.min() < 0.72 and gamma.max() > 1.28
    assert all(sorted(row) == [0, 1, 2, 3, 4] for row in order.tolist())
    assert len({row.index(4) for row in order.tolist()}) == 5  # gamma anywhere in the order


def test_gamma_step_and_a_contrast_after_it_use_the_image_gamma_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Clip 0: gamma 0.7 alone; clip 1: gamma 1.3, then contrast 0.5 with the grey mean of the
    image as gamma left it; clip 2: contrast 0.5, then gamma 0.8 (torchvision's formulas)."""
    aug = VideoAugment(H, steps={"jitter"})
    factors = torch.tensor(
        [[1.0, 1.0, 1.0, 0.0, 0.7], [1.0, 0.5, 1.0, 0.0, 1.3], [1.0, 0.5, 1.0, 0.0, 0.8]]
    )
    order = torch.tensor([[4, 0, 1, 2, 3], [4, 1, 0, 2, 3], [1, 4, 0, 2, 3]])
    monkeypatch.setattr(aug, "_draw_colour", lambda b: (factors, order))
    x = _still_clips(3)
    y = aug(x).double()
    img = x.double() / 255.0
    expected = [
        img[0:1] ** 0.7,
        0.5 * img[1:2] ** 1.3 + 0.5 * _grey(img[1:2] ** 1.3).mean(),
        (0.5 * img[2:3] + 0.5 * _grey(img[2:3]).mean()).clamp(0, 1) ** 0.8,
    ]
    for i, want in enumerate(expected):
        assert torch.allclose(y[i], want[0] * 2 - 1, atol=1e-4), i
    # one gamma for every frame of a clip: still clips stay still
    assert torch.equal(y[:, :, :1].expand_as(y), y)


def test_perspective_fills_with_black() -> None:
    x = torch.full((16, 3, T, H, W), 255, dtype=torch.uint8)
    torch.manual_seed(0)
    y = VideoAugment(H, steps={"perspective"})(x)
    assert (y < -0.99).any(), "corners pulled inwards show the fill: black"
    assert (y.amax(dim=(1, 2, 3, 4)) > 0.99).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_the_draws_match_the_cpu() -> None:
    """On the model's device: same CPU draws, so the same clip comes out (within rounding)."""
    x = _still_clips()
    aug = VideoAugment(24)
    torch.manual_seed(3)
    on_cpu = aug(x)
    torch.manual_seed(3)
    on_gpu = aug.to("cuda")(x.cuda())
    assert on_gpu.device.type == "cuda"
    assert torch.allclose(on_gpu.cpu(), on_cpu, atol=1e-4)
