"""random_shift and the augment hook of Batches: what moves where, what is filled, determinism."""

import numpy as np
import pytest

import barenet as bn


def test_shift_moves_pixels_and_fills_the_border():
    image = np.zeros((1, 5, 5))
    image[0, 2, 2] = 1.0
    seen = set()
    for seed in range(50):
        out = bn.random_shift(image, 1, np.random.default_rng(seed), (5, 5), fill=0.0)
        (r,), (c,) = np.nonzero(out[0])
        assert abs(r - 2) <= 1 and abs(c - 2) <= 1 and out.sum() == 1.0
        seen.add((r, c))
    assert len(seen) == 9  # every shift in [-1, 1]^2 happens


def test_shift_fill_value_and_flat_layout():
    images = np.ones((4, 9), dtype=np.float32)
    out = bn.random_shift(images, 2, np.random.default_rng(0), (3, 3), fill=-7.0)
    assert out.shape == (4, 9) and out.dtype == np.float32
    assert set(np.unique(out)) <= {1.0, -7.0}
    assert np.array_equal(images, np.ones((4, 9)))  # the input is not modified


def test_each_image_gets_its_own_shift():
    images = np.tile(np.arange(16.0).reshape(1, 4, 4), (64, 1, 1))
    out = bn.random_shift(images, 1, np.random.default_rng(1), (4, 4))
    assert len({o.tobytes() for o in out}) > 1


def test_zero_shift_is_the_identity_and_negative_is_an_error():
    images = np.arange(8.0).reshape(2, 4)
    assert bn.random_shift(images, 0, np.random.default_rng(0), (2, 2)) is images
    with pytest.raises(ValueError, match="max_shift"):
        bn.random_shift(images, -1, np.random.default_rng(0), (2, 2))


def test_fit_applies_augment_to_training_batches_only():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 4))
    y = (x[:, 0] > 0).astype(np.int64)
    calls = []

    def augment(batch, generator):
        calls.append(len(batch))
        return batch + 0.01 * generator.standard_normal(batch.shape)

    model = bn.SoftmaxClassifier(4, 2, rng=np.random.default_rng(1))
    history = bn.History()
    bn.fit(model, bn.SGD(model.parameters(), lr=0.1), bn.SoftmaxCrossEntropy(), x, y, epochs=2,
           batches=bn.Batches(16, np.random.default_rng(2), augment),
           on_epoch=lambda epoch: history.record_epoch(epoch, model, train=(x, y)))
    assert calls == [16, 16, 8] * 2 and len(history.train_accuracy) == 2
