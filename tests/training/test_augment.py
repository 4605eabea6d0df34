"""The augmentations of what D sees (DiffAugment's translation and cutout, random rotation):
their geometry, their gradients, and that the GAN step puts them in front of D and nowhere else."""
import pytest
import torch

from gmgan_lib.models import build
from gmgan_lib.training.augment import (AUGMENTATIONS, BACKGROUND, augmentation, cutout,
                                        diffaugment, random_rotation, translate)
from gmgan_lib.training.config import TrainConfig
from gmgan_lib.training.step import gan_losses_step


def dot(row: int, col: int, b: int = 1) -> torch.Tensor:
    x = torch.full((b, 1, 28, 28), BACKGROUND)
    x[:, :, row, col] = 1.0
    return x


def test_translation_moves_whole_pixels_by_at_most_four_and_fills_with_background():
    torch.manual_seed(0)
    moved = translate(dot(14, 14, b=500))
    assert torch.all((moved == 1.0).flatten(1).sum(1) == 1)          # the pixel is moved, not blurred
    rows, cols = (moved[:, 0] == 1.0).nonzero()[:, 1:].T
    assert (rows - 14).abs().max() == 4 and (cols - 14).abs().max() == 4   # 28 / 8, both signs
    assert set((rows - 14).tolist()) == set(range(-4, 5))
    assert torch.all(translate(torch.full((50, 1, 28, 28), BACKGROUND)) == BACKGROUND)


def test_cutout_blanks_one_square_of_half_the_side_clipped_at_the_border():
    torch.manual_seed(0)
    cut = cutout(torch.ones(500, 1, 28, 28))
    blank = cut[:, 0] == BACKGROUND
    assert torch.all((cut == BACKGROUND) | (cut == 1.0))
    sizes = blank.flatten(1).sum(1)
    assert sizes.max() == 14 * 14 and sizes.min() >= 7 * 7     # a corner keeps at least a quarter
    for mask in blank[:20]:                                       # a rectangle: rows x columns
        r, c = mask.any(1), mask.any(0)
        assert torch.equal(mask, r[:, None] & c[None, :])


def test_random_rotation_turns_about_the_centre_and_keeps_a_blank_image_blank():
    torch.manual_seed(0)
    x = torch.full((200, 1, 28, 28), BACKGROUND)
    x[:, :, 4:24, 13:15] = 1.0                                    # a vertical bar through the centre
    turned = random_rotation(x)
    assert torch.allclose(random_rotation(torch.full((3, 1, 28, 28), BACKGROUND)),
                          torch.full((3, 1, 28, 28), BACKGROUND))
    # The mass stays (up to the corners' interpolation) and the orientation varies.
    mass = (turned + 1).sum(dim=(1, 2, 3)) / (x + 1).sum(dim=(1, 2, 3))
    assert mass.min() > 0.9 and mass.max() < 1.1
    vertical = (turned[:, 0, 4:24, 13:15] > 0).float().mean(dim=(1, 2))
    assert vertical.max() > 0.9 and vertical.min() < 0.2


@pytest.mark.parametrize("name", ["diffaugment", "rotate"])
def test_augmentations_are_differentiable_float64_gradcheck(name):
    f = augmentation(name)
    x = (torch.rand(2, 1, 28, 28, dtype=torch.float64) * 2 - 1).requires_grad_(True)

    def fixed_draw(t):   # gradcheck calls it many times: the same random draw each time
        torch.manual_seed(3)
        return f(t)

    assert torch.autograd.gradcheck(fixed_draw, (x,), eps=1e-6, atol=1e-5)
    assert fixed_draw(x).grad_fn is not None


def test_unknown_augmentations_are_refused_naming_the_parameter_and_the_choices():
    assert AUGMENTATIONS == ("none", "diffaugment", "rotate") and augmentation("none") is None
    with pytest.raises(ValueError, match="augment must be one of none, diffaugment, rotate; got 'flip'"):
        augmentation("flip")
    with pytest.raises(ValueError, match="augment must be one of none, diffaugment, rotate"):
        TrainConfig(augment="flip").validate()


@pytest.mark.parametrize("loss", ["bce", "relativistic"])
def test_the_step_augments_every_image_d_sees_and_nothing_else(loss):
    torch.manual_seed(0)
    G, D = build("gan", latent_dim=8, g_width=8, d_width=8)
    made, seen = [], []

    def spy(x):
        y = diffaugment(x)
        made.append(y)
        return y

    D.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    opt_g, opt_d = (torch.optim.Adam(m.parameters()) for m in (G, D))
    real = torch.rand(4, 1, 28, 28) * 2 - 1
    gan_losses_step(G, D, opt_g, opt_d, real, 8, loss=loss, augment=spy)
    # D update: real and fake; G update: fake (and real again for the relativistic loss).
    assert len(seen) == (4 if loss == "relativistic" else 3)
    assert all(any(s is m for m in made) for s in seen)
    # G itself draws un-augmented images: no blanked squares, no frames of background.
    torch.manual_seed(1)
    with torch.no_grad():
        samples = G(torch.randn(64, 8))
    assert not torch.any(samples == BACKGROUND)


def test_diffaugment_composes_translation_and_cutout():
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    torch.manual_seed(5)
    a = diffaugment(x)
    torch.manual_seed(5)
    assert torch.equal(a, cutout(translate(x)))
