"""barenet.ConjugateGradient: it solves quadratics in at most n iterations (as many as the
Hessian has distinct eigenvalues), matches numpy.linalg.solve, copes with ill-conditioning when
it keeps its full memory, runs one CG per block when asked, and rejects bad input clearly."""

import numpy as np
import pytest

import barenet as bn
from barenet.optim import ConjugateGradient


def spd(n: int, condition: float, rng: np.random.Generator, distinct: int | None = None):
    """A random symmetric positive definite (n, n) matrix with eigenvalues log-spaced in
    [1, condition] (only ``distinct`` different ones if given)."""
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    eigenvalues = np.logspace(0, np.log10(condition), distinct or n)
    eigenvalues = np.resize(eigenvalues, n)
    return (q * eigenvalues) @ q.T


class Quadratic:
    """L(w) = w^T A w / 2 - b^T w over one Parameter; its minimiser solves A w = b."""

    def __init__(self, a: np.ndarray, b: np.ndarray, w0: np.ndarray):
        self.a, self.b = a, b
        self.w = bn.Parameter(w0.copy())
        self.calls = 0

    def closure(self) -> float:
        self.calls += 1
        w = self.w.data
        self.w.grad[...] = 0
        self.w.grad += self.a @ w - self.b
        return float(w @ self.a @ w / 2 - self.b @ w)


def relative_error(w: np.ndarray, exact: np.ndarray) -> float:
    return float(np.linalg.norm(w - exact) / np.linalg.norm(exact))


def l2_closure(layer, x, targets):
    """The closure CG calls: zeroed grads, L2 loss of layer(x) against targets, backward."""
    loss_fn = bn.L2Loss()

    def closure():
        layer.zero_grad()
        loss = loss_fn(layer(x), targets)
        layer.backward(loss_fn.backward())
        return loss

    return closure


# Plain CG (memory 1) loses conjugacy to rounding even at a moderate condition number (a
# textbook CG needs 14 iterations at condition 100), so it is held to a well-conditioned case.
@pytest.mark.parametrize("memory, condition", [(1, 10.0), (3, 10.0), (None, 1e3)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_spd_quadratic_is_solved_in_at_most_n_iterations(memory, condition, seed):
    rng = np.random.default_rng(seed)
    n = 12
    a, b = spd(n, condition, rng), rng.standard_normal(n)
    problem = Quadratic(a, b, rng.standard_normal(n))
    opt = ConjugateGradient([problem.w], memory=memory)
    for _ in range(n):
        opt.step(problem.closure)
    assert relative_error(problem.w.data, np.linalg.solve(a, b)) < 1e-10
    assert opt.iterations == n and opt.evaluations == problem.calls == 2 * n


def test_finite_termination_counts_distinct_eigenvalues():
    rng = np.random.default_rng(3)
    a = spd(30, 1e3, rng, distinct=4)
    b = rng.standard_normal(30)
    problem = Quadratic(a, b, np.zeros(30))
    opt = ConjugateGradient([problem.w])
    for _ in range(4):
        opt.step(problem.closure)
    assert relative_error(problem.w.data, np.linalg.solve(a, b)) < 1e-9


def test_full_memory_copes_with_ill_conditioning_where_classic_cg_drifts():
    rng = np.random.default_rng(4)
    n = 40
    a, b = spd(n, 1e6, rng), rng.standard_normal(n)
    exact = np.linalg.solve(a, b)
    results = {}
    for memory in (1, None):
        problem = Quadratic(a, b, np.zeros(n))
        opt = ConjugateGradient([problem.w], memory=memory)
        for _ in range(n):
            opt.step(problem.closure)
        results[memory] = relative_error(problem.w.data, exact)
    assert results[None] < 1e-7
    assert results[None] < results[1] / 100  # rounding makes plain CG lose conjugacy


@pytest.mark.parametrize("separable, iterations", [(False, 15), (True, 5)])
def test_weight_and_bias_are_fitted_like_least_squares(separable, iterations):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((50, 4))
    y = x @ rng.standard_normal((4, 3)) + rng.standard_normal(3)
    y += 0.1 * rng.standard_normal((50, 3))
    layer = bn.Linear(4, 3, rng=rng)
    closure = l2_closure(layer, x, y)

    # 15 weights in one problem, or 3 blocks (output unit i: weight row i and bias i) of 5
    opt = ConjugateGradient(layer.parameters(), memory=None, separable=separable)
    assert opt.n_blocks == (3 if separable else 1)
    for _ in range(iterations):
        opt.step(closure)
    design = np.hstack([x, np.ones((50, 1))])
    exact = np.linalg.lstsq(design, y, rcond=None)[0]
    assert np.allclose(layer.weight.data, exact[:4].T, atol=1e-10)
    assert np.allclose(layer.bias.data, exact[4], atol=1e-10)


def test_separable_runs_one_cg_per_row_and_needs_only_the_row_length():
    rng = np.random.default_rng(6)
    n, rows = 10, 8
    g = spd(n, 1e4, rng)
    b = rng.standard_normal((rows, n))
    exact = np.linalg.solve(g, b.T).T
    w = bn.Parameter(rng.standard_normal((rows, n)))

    def closure():  # sum over rows of w_i^T G w_i / 2 - b_i^T w_i: block-diagonal Hessian
        w.grad[...] = w.data @ g - b
        return float(np.sum((w.data @ g) * w.data) / 2 - np.sum(b * w.data))

    opt = ConjugateGradient([w], memory=None, separable=True)
    assert opt.n_blocks == rows and opt.restart == n
    for _ in range(n):
        opt.step(closure)
    assert relative_error(w.data, exact) < 1e-9


def test_conv2d_weights_are_recovered_from_its_own_gradients():
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 1, (4, 2, 7, 7))
    target_layer = bn.Conv2d(2, 3, 3, padding=1, bias=False, rng=rng)
    targets = target_layer(x)
    layer = bn.Conv2d(2, 3, 3, padding=1, bias=False, rng=np.random.default_rng(8))
    closure = l2_closure(layer, x, targets)

    opt = ConjugateGradient(layer.parameters(), memory=None, separable=True)
    for _ in range(18):  # 2 * 3 * 3 weights per output channel
        opt.step(closure)
    assert np.allclose(layer.weight.data, target_layer.weight.data, rtol=0, atol=1e-10)


def test_a_stationary_point_is_left_alone():
    a = np.eye(3)
    problem = Quadratic(a, np.ones(3), np.ones(3))  # the minimiser already
    opt = ConjugateGradient([problem.w])
    loss = opt.step(problem.closure)
    assert loss == -1.5 and opt.grad_norm == 0.0 and np.array_equal(problem.w.data, np.ones(3))
    assert opt.evaluations == 1


def test_restart_clears_the_memory():
    rng = np.random.default_rng(9)
    problem = Quadratic(spd(6, 10.0, rng), rng.standard_normal(6), np.zeros(6))
    opt = ConjugateGradient([problem.w], memory=None, restart=2)
    for _ in range(5):
        opt.step(problem.closure)
        assert len(opt._history) <= 2


def test_weights_are_restored_when_the_probe_fails():
    problem = Quadratic(np.eye(2), np.ones(2), np.zeros(2))
    calls = []

    def closure():
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return problem.closure()

    opt = ConjugateGradient([problem.w])
    with pytest.raises(KeyboardInterrupt):
        opt.step(closure)
    assert np.array_equal(problem.w.data, np.zeros(2))


def test_a_loss_that_is_not_convex_is_refused():
    problem = Quadratic(-np.eye(3), np.ones(3), np.zeros(3))
    opt = ConjugateGradient([problem.w])
    with pytest.raises(RuntimeError, match="not convex"):
        opt.step(problem.closure)
    assert np.array_equal(problem.w.data, np.zeros(3))


@pytest.mark.parametrize("kwargs, match", [
    ({"memory": 0}, "memory"),
    ({"memory": -1}, "memory"),
    ({"memory": 1.5}, "memory"),
    ({"memory": True}, "memory"),
    ({"restart": 0}, "restart"),
    ({"probe_length": 0.0}, "probe_length"),
    ({"probe_length": -1.0}, "probe_length"),
    ({"probe_length": float("nan")}, "probe_length"),
    ({"separable": "yes"}, "separable"),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConjugateGradient([bn.Parameter(np.zeros(3))], **kwargs)


def test_separable_needs_parameters_of_one_length():
    with pytest.raises(ValueError, match="equal length along their first axis"):
        ConjugateGradient([bn.Parameter(np.zeros((3, 2))), bn.Parameter(np.zeros(4))],
                          separable=True)
    with pytest.raises(ValueError, match="equal length"):
        ConjugateGradient([bn.Parameter(np.zeros(()))], separable=True)


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="empty parameter list"):
        ConjugateGradient([])
    with pytest.raises(ValueError, match="floating-point"):
        ConjugateGradient([bn.Parameter(np.zeros(3, dtype=np.int64))])
    with pytest.raises(ValueError, match="empty parameter"):
        ConjugateGradient([bn.Parameter(np.zeros(0))])


def test_bad_closures_are_explained():
    w = bn.Parameter(np.ones(2))
    opt = ConjugateGradient([w])
    with pytest.raises(ValueError, match="needs a closure"):
        opt.step(None)
    with pytest.raises(ValueError, match="loss as a number"):
        opt.step(lambda: "loss")
    with pytest.raises(FloatingPointError, match="not finite"):
        opt.step(lambda: float("nan"))
    w.data[0] = np.inf
    with pytest.raises(FloatingPointError, match="NaN or inf"):
        opt.step(lambda: 0.0)
