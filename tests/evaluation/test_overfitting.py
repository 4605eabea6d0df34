"""The discriminator's overfitting signal: measured as D sees real batches, without side
effects, and it does see a D that has memorised its training images."""
import torch

from gmgan_lib.data import load_tensors
from gmgan_lib.evaluation.overfitting import (checkpoint_overfitting, discriminator_logits,
                                           overfitting_signal)
from gmgan_lib.models import build
from gmgan_lib.training import TrainConfig, train


def test_logits_are_batch_statistics_logits_and_leave_d_as_it_was():
    torch.manual_seed(0)
    D = build("gan").discriminator.eval()
    before = {k: v.clone() for k, v in D.state_dict().items()}
    x = torch.rand(130, 1, 28, 28) * 2 - 1
    logits = discriminator_logits(D, x)
    assert logits.shape == (130,) and not D.training
    assert all(torch.equal(before[k], v) for k, v in D.state_dict().items())
    D.train()
    with torch.no_grad():
        assert torch.allclose(logits[:64], D(x[:64]), atol=1e-6)   # the first batch, as in a step


def test_a_discriminator_that_memorised_its_training_images_shows_a_gap():
    images, _ = load_tensors("mnist", "train", fraction=0.002, seed=0)     # 120 digits
    train_set, others = images[:64], images[64:128]
    held_out, _ = load_tensors("mnist", "test")
    torch.manual_seed(0)
    D = build("gan").discriminator
    opt = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    before = overfitting_signal(D, train_set, held_out[:64])
    for _ in range(60):   # "these 64 are real, those 64 are not": memorisation, nothing else
        loss = (torch.nn.functional.softplus(-D(train_set)).mean()
                + torch.nn.functional.softplus(D(others)).mean())
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = overfitting_signal(D, train_set, held_out[:64])
    assert abs(before["gap"]) < 0.5
    assert after["gap"] > 2.0 and after["r_t"] > 0.9
    assert after["d_train"] > after["d_held_out"]


def test_the_signal_of_a_training_checkpoint(tmp_path):
    config = TrainConfig(model="gan", batch_size=8, data_fraction=0.0006, max_steps=3,
                         model_config={"g_width": 8, "d_width": 8})
    train(config, tmp_path / "run", verbose=False)
    signal = checkpoint_overfitting(tmp_path / "run" / "checkpoint.pt")
    assert signal["step"] == 3
    assert set(signal) == {"step", "d_train", "d_held_out", "gap", "r_t"}
    assert abs(signal["gap"] - (signal["d_train"] - signal["d_held_out"])) < 1e-6
