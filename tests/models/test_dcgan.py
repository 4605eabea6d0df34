"""The DCGAN baseline (textbook strided DCGAN): shapes, ranges, parameter count, and that a few
steps learn something."""
import pytest
import torch

from gmgan_lib.models import DCGANDiscriminator, DCGANGenerator, build, count_parameters


def test_generator_maps_noise_to_images_in_range():
    torch.manual_seed(0)
    G = DCGANGenerator(latent_dim=100)
    x = G(torch.randn(5, 100))
    assert x.shape == (5, 1, 28, 28)
    assert x.min() >= -1 and x.max() <= 1          # tanh output
    assert x.std() > 0                             # not a constant image


def test_discriminator_returns_one_logit_per_image():
    D = DCGANDiscriminator()
    assert D(torch.rand(3, 1, 28, 28) * 2 - 1).shape == (3,)


def test_parameter_count_matches_the_layer_list():
    # Hand count of the module docstring: Linear 100->6272 (no bias) + BN1d, two 4x4 transposed
    # convolutions (the first without bias, + BN); D: two 4x4 convolutions (+ BN), Linear.
    g = 100 * 6272 + 2 * 6272 + 128 * 64 * 16 + 2 * 64 + 64 * 1 * 16 + 1
    d = (16 * 64 + 64) + 64 * 128 * 16 + 2 * 128 + (128 * 49 + 1)
    G, D = build("gan")
    assert count_parameters(G) == g
    assert count_parameters(D) == d
    _, D = build("gan", d_batch_norm=False)      # the convolution gets its bias back
    assert count_parameters(D) == d - 2 * 128 + 128


@pytest.mark.parametrize("bad", [torch.zeros(2, 99), torch.zeros(2, 100, 1)])
def test_generator_rejects_wrong_noise_shape(bad):
    with pytest.raises(ValueError, match=r"z must have shape \[B, 100\]"):
        DCGANGenerator()(bad)


def test_discriminator_rejects_wrong_image_shape():
    with pytest.raises(ValueError, match=r"\[B, 1, 28, 28\]"):
        DCGANDiscriminator()(torch.zeros(2, 1, 32, 32))


def test_discriminator_learns_to_separate_two_fixed_batches():
    # Twenty-five Adam steps on "real" = bright squares vs "fake" = noise must lower the BCE loss:
    # gradients flow through every layer, and the logit sign follows the label.
    torch.manual_seed(0)
    D = DCGANDiscriminator(width=8)   # narrow, to keep the test fast; same layer list
    real = -torch.ones(8, 1, 28, 28)
    real[:, :, 8:20, 8:20] = 1
    fake = torch.rand(8, 1, 28, 28) * 2 - 1
    opt = torch.optim.Adam(D.parameters(), lr=2e-3)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    losses = []
    for _ in range(25):
        loss = bce(D(real), torch.ones(8)) + bce(D(fake), torch.zeros(8))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert (D(real) > 0).all() and (D(fake) < 0).all()
