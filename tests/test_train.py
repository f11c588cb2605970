"""Mini-batching, the training loop (fit, train_epoch), evaluate, History and the optimiser's
argument checks."""

import math

import numpy as np
import pytest
from hypothesis import given
from strategies import dims, seeds

import barenet.train as train_module
from barenet import (
    MLP,
    SGD,
    Batches,
    History,
    L2Loss,
    L2Penalty,
    Linear,
    Module,
    Parameter,
    SoftmaxCrossEntropy,
    confusion_matrix,
    evaluate,
    fit,
    minibatches,
    train_epoch,
)

# --- minibatches ---------------------------------------------------------------------------------


@given(n=dims(0, 200), batch_size=dims(1, 64), seed=seeds)
def test_minibatches_cover_every_index_once(n, batch_size, seed):
    batches = list(minibatches(n, batch_size, np.random.default_rng(seed)))
    np.testing.assert_array_equal(np.sort(np.concatenate(batches or [np.array([], int)])),
                                  np.arange(n))
    assert [len(b) for b in batches[:-1]] == [batch_size] * (len(batches) - 1)
    assert len(batches) == math.ceil(n / batch_size)


@given(n=dims(20, 200), batch_size=dims(1, 64), seed=seeds)
def test_minibatches_reshuffle_each_epoch_and_repeat_for_a_seed(n, batch_size, seed):
    rng = np.random.default_rng(seed)
    epoch1 = np.concatenate(list(minibatches(n, batch_size, rng)))
    epoch2 = np.concatenate(list(minibatches(n, batch_size, rng)))
    assert not np.array_equal(epoch1, epoch2)  # 1 / 20! odds of a false failure

    rng = np.random.default_rng(seed)
    again1 = np.concatenate(list(minibatches(n, batch_size, rng)))
    again2 = np.concatenate(list(minibatches(n, batch_size, rng)))
    np.testing.assert_array_equal(epoch1, again1)
    np.testing.assert_array_equal(epoch2, again2)


@pytest.mark.parametrize("bad", [0, -3, 2.0])
def test_minibatches_reject_bad_batch_size(bad):
    with pytest.raises(ValueError, match="batch_size"):
        list(minibatches(10, bad, np.random.default_rng(0)))


# --- evaluate ----------------------------------------------------------------------------------


class Identity(Module):
    """A 'model' whose scores are its input, so a test can choose the scores exactly."""

    def forward(self, x):
        return x

    def backward(self, grad_out):
        return grad_out


# rows are probabilities, so log_softmax(log p) = log p and each loss is -log p[label]
PROBS = np.array([
    [0.5, 0.25, 0.25],  # label 0, predicted 0
    [0.25, 0.5, 0.25],  # label 0, predicted 1
    [0.2, 0.7, 0.1],    # label 1, predicted 1
    [0.1, 0.8, 0.1],    # label 1, predicted 1
    [0.6, 0.3, 0.1],    # label 1, predicted 0
    [0.1, 0.2, 0.7],    # label 2, predicted 2
])
LABELS = np.array([0, 0, 1, 1, 1, 2])


def test_evaluate_against_a_hand_computed_example():
    m = evaluate(Identity(), np.log(PROBS), LABELS)
    np.testing.assert_array_equal(m.confusion, [[1, 1, 0], [1, 2, 0], [0, 0, 1]])
    np.testing.assert_allclose(m.per_class_accuracy, [1 / 2, 2 / 3, 1.0], rtol=1e-15)
    assert m.accuracy == pytest.approx(4 / 6, rel=1e-15)
    expected_class_loss = [
        -(math.log(0.5) + math.log(0.25)) / 2,
        -(math.log(0.7) + math.log(0.8) + math.log(0.3)) / 3,
        -math.log(0.7),
    ]
    np.testing.assert_allclose(m.per_class_loss, expected_class_loss, rtol=1e-12)
    expected_loss = -np.mean(np.log(PROBS[np.arange(6), LABELS]))
    assert m.loss == pytest.approx(expected_loss, rel=1e-12)


def test_evaluate_class_absent_from_split_is_nan_not_a_crash():
    m = evaluate(Identity(), np.log(PROBS[:5]), LABELS[:5])
    assert np.isnan(m.per_class_accuracy[2]) and np.isnan(m.per_class_loss[2])
    assert m.confusion[2].sum() == 0


def test_evaluate_in_chunks_matches_one_pass(monkeypatch):
    rng = np.random.default_rng(0)
    model, x, labels = MLP(4, 6, 3, rng=rng), rng.standard_normal((11, 4)), rng.integers(0, 3, 11)
    whole = evaluate(model, x, labels)
    monkeypatch.setattr(train_module, "EVAL_BATCH", 3)
    chunked = evaluate(model, x, labels)
    assert chunked.loss == pytest.approx(whole.loss, rel=1e-14)
    np.testing.assert_array_equal(chunked.confusion, whole.confusion)


def test_evaluate_rejects_labels_out_of_range():
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        evaluate(Identity(), np.log(PROBS), np.array([0, 0, 1, 1, 1, 3]))


def test_confusion_matrix():
    cm = confusion_matrix(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 3)
    np.testing.assert_array_equal(cm, [[1, 0, 0], [0, 1, 1], [0, 0, 1]])


# --- fit ---------------------------------------------------------------------------------------


def blobs(seed: int, n_per_class: int = 60):
    """Three well-separated Gaussian blobs in 2-D."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 4.0], [4.0, -2.0], [-4.0, -2.0]])
    x = np.concatenate([c + 0.7 * rng.standard_normal((n_per_class, 2)) for c in centres])
    labels = np.repeat(np.arange(3), n_per_class)
    return x, labels


def train_blobs(seed: int, epochs: int = 10, l2_lambda: float = 0.0,
                train_every_epoch: bool = True, on_epoch=None):
    """An MLP fitted to the blobs, its History recorded after each epoch as study.classify does
    it; ``on_epoch(epoch, history)`` runs after each recorded epoch."""
    x, labels = blobs(0)
    validation = blobs(1)
    rng = np.random.default_rng(seed)
    model = MLP(2, 16, 3, rng=rng)
    opt = SGD(model.parameters(), lr=0.05, momentum=0.9)
    history = History()

    def end_of_epoch(epoch):
        train = (x, labels) if train_every_epoch or epoch == epochs else None
        if history.record_epoch(epoch, model, train=train, validation=validation):
            return True
        if on_epoch is not None:
            on_epoch(epoch, history)
        return False

    diverged_at = fit(model, opt, SoftmaxCrossEntropy(), x, labels, epochs=epochs,
                      batches=Batches(16, rng), penalty=L2Penalty.on_weights(model, l2_lambda),
                      on_epoch=end_of_epoch)
    assert diverged_at is None
    return model, history


def test_fit_learns_a_separable_problem():
    model, history = train_blobs(seed=0)
    assert not history.diverged
    assert len(history.train_loss) == len(history.val_accuracy) == 10
    assert history.train_accuracy[-1] >= 0.98 and history.val_accuracy[-1] >= 0.97
    assert history.train_loss[-1] < 0.25 * history.train_loss[0]
    x_val, labels_val = blobs(1)
    assert evaluate(model, x_val, labels_val).accuracy == history.val_accuracy[-1]


def test_fit_is_bit_for_bit_deterministic_for_a_seed():
    model_a, history_a = train_blobs(seed=7, epochs=3)
    model_b, history_b = train_blobs(seed=7, epochs=3)
    model_c, history_c = train_blobs(seed=8, epochs=3)
    assert history_a == history_b
    for a, b in zip(model_a.parameters(), model_b.parameters(), strict=True):
        assert np.array_equal(a.data, b.data)
    assert history_a != history_c  # the comparison above is not vacuous


def test_history_can_measure_the_train_split_after_the_last_epoch_only():
    model_all, every = train_blobs(seed=3, epochs=4)
    model_last, last = train_blobs(seed=3, epochs=4, train_every_epoch=False)
    assert last.val_loss == every.val_loss and last.val_accuracy == every.val_accuracy
    assert last.train_loss == every.train_loss[-1:]
    assert last.train_accuracy == every.train_accuracy[-1:]
    for a, b in zip(model_all.parameters(), model_last.parameters(), strict=True):
        assert np.array_equal(a.data, b.data)  # measuring never changes the training


def test_l2_penalty_shrinks_weights_only():
    model_plain, _ = train_blobs(seed=0, epochs=3)
    model_l2, _ = train_blobs(seed=0, epochs=3, l2_lambda=0.05)
    norm = lambda m: sum(float(np.sum(p.data**2)) for p in m.parameters() if p.data.ndim > 1)  # noqa: E731
    assert norm(model_l2) < 0.9 * norm(model_plain)
    penalised = L2Penalty.on_weights(model_l2, 0.05).params
    assert [p.data.ndim for p in penalised] == [2, 2]  # the two weight matrices, no bias


def test_fit_calls_on_epoch_after_each_epoch():
    calls = []
    train_blobs(seed=0, epochs=3, on_epoch=lambda e, h: calls.append((e, len(h.train_loss))))
    assert calls == [(1, 1), (2, 2), (3, 3)]


def test_fit_stops_when_on_epoch_returns_true():
    x, labels = blobs(0)
    model = MLP(2, 4, 3)
    calls = []
    diverged_at = fit(model, SGD(model.parameters(), lr=0.1), SoftmaxCrossEntropy(), x, labels,
                      epochs=10, batches=Batches(8, np.random.default_rng(0)),
                      on_epoch=lambda epoch: calls.append(epoch) or epoch == 2)
    assert calls == [1, 2] and diverged_at is None


def test_fit_takes_any_loss():
    # a least-squares fit: Linear to the targets of a known linear map, L2Loss per batch
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3))
    true_weight = np.array([[1.0, -2.0, 0.5]])
    targets = x @ true_weight.T
    layer = Linear(3, 1, bias=False, rng=rng)
    fit(layer, SGD(layer.parameters(), lr=0.01), L2Loss(), x, targets, epochs=40,
        batches=Batches(16, rng))
    np.testing.assert_allclose(layer.weight.data, true_weight, atol=1e-6)


def test_train_epoch_steps_once_per_batch_with_the_loss_gradient():
    # one batch holding every row: one plain SGD step on the mean cross-entropy's gradient
    x, labels = blobs(0, n_per_class=5)
    model = Linear(2, 3, rng=np.random.default_rng(1))
    expected_loss = SoftmaxCrossEntropy()
    expected_loss(model.forward(x), labels)
    expected = model.weight.data - 0.1 * (expected_loss.backward().T @ x)
    assert train_epoch(model, SGD(model.parameters(), lr=0.1), SoftmaxCrossEntropy(), x, labels,
                       Batches(len(x), np.random.default_rng(0)))
    np.testing.assert_allclose(model.weight.data, expected, rtol=1e-14, atol=1e-15)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow on the way to divergence
@pytest.mark.parametrize("batch_size", [16, 180], ids=["many-steps", "one-step-per-epoch"])
@pytest.mark.parametrize("lr", [1e30, 1e100])
def test_huge_learning_rate_records_divergence(lr, batch_size):
    x, labels = blobs(0)
    validation = blobs(1)
    rng = np.random.default_rng(0)
    model = MLP(2, 16, 3, rng=rng)
    history = History()
    diverged_at = fit(model, SGD(model.parameters(), lr=lr), SoftmaxCrossEntropy(), x, labels,
                      epochs=8, batches=Batches(batch_size, rng),
                      on_epoch=lambda epoch: history.record_epoch(epoch, model, (x, labels),
                                                                  validation))
    # the predictions of a batch, or the measurements after an epoch, blew up: never both
    assert (diverged_at is None) == history.diverged
    diverged_at = diverged_at or history.diverged_at_epoch
    assert 1 <= diverged_at <= 8
    assert len(history.train_loss) == diverged_at - 1
    metrics = (history.train_loss + history.train_accuracy + history.val_loss
               + history.val_accuracy)
    assert np.isfinite(metrics).all()


def test_fit_rejects_nan_inputs():
    x, labels = blobs(0)
    x[3, 1] = np.nan
    model = MLP(2, 4, 3)
    with pytest.raises(ValueError, match="training inputs contains NaN"):
        fit(model, SGD(model.parameters(), lr=0.1), SoftmaxCrossEntropy(), x, labels, epochs=1,
            batches=Batches(8, np.random.default_rng(0)))


def test_history_rejects_nan_validation_inputs():
    x_val, labels_val = blobs(1)
    x_val[0, 0] = np.inf
    with pytest.raises(ValueError, match="validation inputs contains NaN"):
        History().record_epoch(1, MLP(2, 4, 3), validation=(x_val, labels_val))


@pytest.mark.parametrize("batch_size", [500, 8])  # one batch; the bad label in a later one
def test_fit_rejects_labels_out_of_range_for_the_model(batch_size):
    x, labels = blobs(0)
    labels[5] = 3
    model = MLP(2, 4, 3)
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        fit(model, SGD(model.parameters(), lr=0.1), SoftmaxCrossEntropy(), x, labels, epochs=1,
            batches=Batches(batch_size, np.random.default_rng(0)))


def test_fit_rejects_target_rows_of_another_shape():
    layer = Linear(3, 2)
    x = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(ValueError, match=r"pred rows have shape \(2,\) but target rows have"):
        fit(layer, SGD(layer.parameters(), lr=0.1), L2Loss(), x, np.zeros((10, 3)), epochs=1,
            batches=Batches(4, np.random.default_rng(0)))


def test_fit_rejects_targets_of_another_length():
    x, labels = blobs(0)
    model = MLP(2, 4, 3)
    with pytest.raises(ValueError, match="one row per input: 180 inputs, got 179 targets"):
        fit(model, SGD(model.parameters(), lr=0.1), SoftmaxCrossEntropy(), x, labels[1:],
            epochs=1, batches=Batches(8, np.random.default_rng(0)))


def test_fit_rejects_bad_epochs():
    x, labels = blobs(0)
    model = MLP(2, 4, 3)
    with pytest.raises(ValueError, match="epochs"):
        fit(model, SGD(model.parameters(), lr=0.1), SoftmaxCrossEntropy(), x, labels, epochs=0,
            batches=Batches(8, np.random.default_rng(0)))


@pytest.mark.parametrize("bad", [0, -3, 2.0])
def test_batches_reject_bad_size(bad):
    with pytest.raises(ValueError, match="batch_size"):
        Batches(bad, np.random.default_rng(0))


def test_l2_penalty_rejects_negative_strength():
    with pytest.raises(ValueError, match=r"lambda \(L2 strength\) must be a finite number >= 0"):
        L2Penalty.on_weights(MLP(2, 4, 3), -1.0)


# --- SGD arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize("lr", [0.0, -0.1, np.nan, np.inf])
def test_sgd_rejects_bad_learning_rate(lr):
    with pytest.raises(ValueError, match=r"lr \(learning rate\) must be a finite number > 0"):
        SGD(Linear(2, 2).parameters(), lr=lr)


@pytest.mark.parametrize("name", ["momentum", "weight_decay"])
def test_sgd_rejects_negative_momentum_or_weight_decay(name):
    with pytest.raises(ValueError, match=f"{name} must be a finite number >= 0"):
        SGD(Linear(2, 2).parameters(), lr=0.1, **{name: -0.5})


def test_sgd_rejects_empty_parameter_list():
    with pytest.raises(ValueError, match="empty parameter list"):
        SGD([], lr=0.1)


def test_sgd_plain_step_by_hand():
    p = Parameter(np.array([1.0, -2.0]))
    p.grad[...] = [0.5, 0.5]
    opt = SGD([p], lr=0.1)
    opt.step()
    np.testing.assert_allclose(p.data, [0.95, -2.05], rtol=1e-15)
    opt.zero_grad()
    assert not p.grad.any()
