"""Batches depend only on (seed, epoch, step): the same global batches on one or several processes, and on resume."""
import numpy as np

from vitedge.distill.batches import epoch_batches, shift_images, steps_per_epoch


def _all(data, spec, **kw):
    args = dict(batch_size=64, seed=3, epoch=1, first_step=steps_per_epoch(len(data), 64), rank=0, world=1,
                shift=2, device="cpu")
    args.update(kw)
    return list(epoch_batches(data, spec, **args))


def test_processes_split_the_same_global_batches(train_data, vit4mnist):
    spec = vit4mnist.spec
    single = _all(train_data, spec)
    rank0, rank1 = _all(train_data, spec, rank=0, world=2), _all(train_data, spec, rank=1, world=2)
    assert len(single) == len(rank0) == 6 and all(c == 64 for _, _, c in single)
    for (x, y, _), (x0, y0, _), (x1, y1, _) in zip(single, rank0, rank1):
        assert np.array_equal(x[0::2], x0) and np.array_equal(x[1::2], x1)
        assert np.array_equal(y[0::2], y0) and np.array_equal(y[1::2], y1)


def test_resume_mid_epoch_yields_the_rest_and_epochs_reshuffle(train_data, vit4mnist):
    spec = vit4mnist.spec
    full, tail = _all(train_data, spec), _all(train_data, spec, first_step=6 + 4)
    assert len(tail) == 2 and all(np.array_equal(a[0], b[0]) for a, b in zip(full[4:], tail))
    other = _all(train_data, spec, epoch=2, first_step=12)
    assert not np.array_equal(full[0][1], other[0][1])


def test_shift_images_translates_with_zero_fill():
    image = np.zeros((1, 1, 6, 6), dtype=np.uint8)
    image[0, 0, 2, 2] = 255
    assert shift_images(image, 0, np.random.default_rng(0)) is image
    moved = shift_images(np.repeat(image, 20, axis=0), 1, np.random.default_rng(0))
    assert moved.shape == (20, 1, 6, 6) and (moved.reshape(20, -1).sum(1) == 255).all()
    positions = {tuple(np.argwhere(m[0])[0]) for m in moved}
    assert len(positions) > 1 and all(abs(r - 2) <= 1 and abs(c - 2) <= 1 for r, c in positions)
