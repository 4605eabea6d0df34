"""Which images each step sees: a function of (seed, step), disjoint shards per rank."""
import pytest
import torch

from gmgan_lib.training.schedule import Schedule, epoch_permutation


def schedule(n=40, **kw):
    args = dict(batch_size=4, d_steps=1, epochs=3, max_steps=None, seed=5)
    return Schedule(n, **{**args, **kw})


def test_a_step_takes_d_steps_consecutive_batches_of_its_epochs_permutation():
    images = torch.arange(40.0).view(40, 1, 1, 1)
    s = schedule(d_steps=2)                        # 40 images, 8 per step: 5 steps per epoch
    assert (s.steps_per_epoch, s.total_steps) == (5, 15)
    perm = epoch_permutation(40, 5, 0)
    first, second = s.real_batches(images, 1)      # the second step of epoch 0
    assert first.flatten().tolist() == perm[8:12].float().tolist()
    assert second.flatten().tolist() == perm[12:16].float().tolist()
    (nxt, _) = s.real_batches(images, 5)           # the first step of epoch 1: a new order
    assert nxt.flatten().tolist() == epoch_permutation(40, 5, 1)[0:4].float().tolist()
    assert not torch.equal(epoch_permutation(40, 5, 0), epoch_permutation(40, 5, 1))


def test_the_ranks_shards_are_disjoint_and_cover_the_epoch():
    images = torch.arange(40.0).view(40, 1, 1, 1)
    seen = []
    for rank in range(2):
        s = schedule(rank=rank, world=2)           # 20 images per rank: 5 steps per epoch
        assert s.steps_per_epoch == 5
        seen += [x for step in range(5) for x in s.real_batches(images, step)[0].flatten().tolist()]
    assert sorted(seen) == list(range(40))


def test_total_steps_is_capped_by_max_steps_and_a_dry_run_takes_one():
    assert schedule(max_steps=7).total_steps == 7
    assert schedule(max_steps=10**6).total_steps == 30
    assert schedule(dry_run=True).total_steps == 1


def test_epochs_are_one_based_and_end_on_their_last_step():
    s = schedule()                                 # 10 steps per epoch
    assert [s.epoch(k) for k in (0, 1, 10, 11, 30)] == [1, 1, 1, 2, 3]
    assert [s.ends_epoch(k) for k in (9, 10, 11, 20)] == [False, True, False, True]


def test_a_step_larger_than_the_data_is_refused_naming_both_numbers():
    with pytest.raises(ValueError, match=r"batch_size 4 x d_steps 3 is larger than the 10 "):
        schedule(n=10, d_steps=3)
