"""One GAN step as a GPU runs it: nothing in it may wait for the host.

On a GPU a look at a tensor's value (``bool(t)``, ``.item()``, ``.tolist()``, a NaN test) makes
the host wait for the device, every step. The meta device has shapes and no values at all, so
a whole step run there (forward, backward, Adam) fails at the first such look: a CPU-only
stand-in for ``torch.cuda.set_sync_debug_mode("error")`` (which the ``gpu``-marked tests use on
a real device). The presets with convection are left out: on the meta device their shifts take
the reference plane copies, which read the shift tables on the host; on CUDA the Triton
convection kernels take them instead.
"""
from __future__ import annotations

import pytest
import torch

from gmgan_lib.models import build
from gmgan_lib.training.augment import augmentation
from gmgan_lib.training.step import gan_losses_step


@pytest.mark.parametrize("model, preset, loss, augment", [
    ("gmgan", "hybrid", "bce", "none"),
    ("gmgan", "hybrid-invariant", "bce", "diffaugment"),
    ("gmgan", "hybrid-gd", "hinge", "none"),
    ("gmgan", "hybrid", "relativistic", "rotate"),
    ("gan", None, "bce", "diffaugment"),
])
def test_a_gan_step_looks_at_no_value_off_the_cpu(model, preset, loss, augment):
    gan = build(model, 100, **({"preset": preset} if preset else {}))
    G, D = gan.generator.to("meta"), gan.discriminator.to("meta")
    opt_g = torch.optim.Adam(G.parameters(), 4e-4, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), 4e-4, betas=(0.0, 0.9))
    reals = [torch.randn(64, 1, 28, 28, device="meta")]
    loss_d, loss_g = gan_losses_step(G, D, opt_g, opt_d, reals, 100, loss, 0.0,
                                     augmentation(augment))
    assert loss_d.device.type == loss_g.device.type == "meta"
