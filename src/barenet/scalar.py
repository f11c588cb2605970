"""A graph of scalar operations with reverse-mode autodiff (the assignment's scalar backprop).

Each ``Scalar`` remembers its parents and a small closure that ADDS its gradient into theirs,
so a node used twice receives both contributions. ``backward()`` visits nodes in reverse
topological order, found iteratively so deep graphs never hit Python's recursion limit.
"""

from __future__ import annotations

import math


class Scalar:
    """A float in a computation graph. ``expr`` is a readable formula of how it was built;
    give an input a name with ``Scalar(2.0, "x")``.

    Internally a node built by an operation keeps ``(format, operands)`` and renders its
    formula only when ``expr`` is read: storing each node's full string would cost memory
    quadratic in the depth of the graph (a 20,000-node chain would hold gigabytes of text)."""

    __slots__ = ("value", "grad", "_expr", "op", "_parents", "_backward")

    def __init__(self, value: float, expr=None, _parents: tuple[Scalar, ...] = (),
                 op: str = ""):
        self.value = float(value)
        if not _parents and not math.isfinite(self.value):  # an input or a constant
            raise ValueError(f"a Scalar input must be a finite number, got {value!r}"
                             + (f" for {expr}" if isinstance(expr, str) else ""))
        self.grad = 0.0
        self._expr = expr if expr is not None else _format_number(self.value)
        self.op = op
        self._parents = _parents
        self._backward = _no_backward

    @property
    def expr(self) -> str:
        return _render(self)

    def __repr__(self) -> str:
        return f"Scalar(value={self.value!r}, grad={self.grad!r}, expr={self.expr!r})"

    def __str__(self) -> str:
        return self.expr

    # --- basic operations -------------------------------------------------------------
    def __add__(self, other) -> Scalar:
        other = _lift(other)
        out = Scalar(self.value + other.value, (_fmt_add, (self, other)), (self, other))

        def backward():
            self.grad += out.grad
            other.grad += out.grad

        out._backward = backward
        return out

    def __mul__(self, other) -> Scalar:
        other = _lift(other)
        out = Scalar(self.value * other.value, (_fmt_mul, (self, other)), (self, other))

        def backward():
            self.grad += other.value * out.grad
            other.grad += self.value * out.grad

        out._backward = backward
        return out

    def __truediv__(self, other) -> Scalar:
        other = _lift(other)
        if other.value == 0:
            raise ZeroDivisionError(
                f"division by zero: the denominator {other.expr} evaluates to 0"
            )
        out = Scalar(self.value / other.value, (_fmt_div, (self, other)), (self, other))

        def backward():
            self.grad += out.grad / other.value
            other.grad -= out.grad * self.value / other.value**2

        out._backward = backward
        return out

    def __pow__(self, exponent: int) -> Scalar:
        if exponent != 2:
            raise ValueError(f"only ** 2 (square) is supported, got ** {exponent!r}")
        # v * v, not v**2: a float power raises OverflowError where a product gives inf
        out = Scalar(self.value * self.value, (_fmt_square, (self,)), (self,))

        def backward():
            self.grad += 2 * self.value * out.grad

        out._backward = backward
        return out

    def __neg__(self) -> Scalar:
        return self * -1

    def __sub__(self, other) -> Scalar:
        return self + (-_lift(other))

    def __radd__(self, other) -> Scalar:
        return _lift(other) + self

    def __rmul__(self, other) -> Scalar:
        return _lift(other) * self

    def __rsub__(self, other) -> Scalar:
        return _lift(other) - self

    def __rtruediv__(self, other) -> Scalar:
        return _lift(other) / self

    # --- reverse mode ------------------------------------------------------------------
    def backward(self) -> None:
        """Set d(self)/d(node) in ``.grad`` of every node this one depends on."""
        order = _topological_order(self)
        for node in order:
            node.grad = 0.0
        self.grad = 1.0
        for node in reversed(order):
            node._backward()


def _no_backward() -> None:
    pass


def _format_number(value: float) -> str:
    return f"{value:g}"


def _wrap(expr: str) -> str:
    """Parenthesise a compound sub-expression so the printed formula reads unambiguously."""
    return f"({expr})" if " " in expr else expr


def _fmt_add(a: str, b: str) -> str:
    return f"{a} + {b}"


def _fmt_mul(a: str, b: str) -> str:
    return f"{_wrap(a)} * {_wrap(b)}"


def _fmt_div(a: str, b: str) -> str:
    return f"{_wrap(a)} / {_wrap(b)}"


def _fmt_square(a: str) -> str:
    return f"{_wrap(a)}^2"


def _render(root: Scalar) -> str:
    """The formula of ``root``, built bottom-up without recursion (deep graphs are fine).
    A sub-formula is dropped once every node quoting it is rendered, so memory stays
    proportional to the answer."""
    if isinstance(root._expr, str):
        return root._expr
    order = _topological_order(root, _unrendered_operands)
    uses: dict[int, int] = {}
    for node in order:
        for o in _unrendered_operands(node):
            uses[id(o)] = uses.get(id(o), 0) + 1
    done: dict[int, str] = {}
    for node in order:
        fmt, operands = node._expr
        done[id(node)] = fmt(*(o._expr if isinstance(o._expr, str) else done[id(o)]
                               for o in operands))
        for o in _unrendered_operands(node):
            uses[id(o)] -= 1
            if not uses[id(o)]:
                del done[id(o)]
    return done[id(root)]


def _unrendered_operands(node: Scalar) -> tuple[Scalar, ...]:
    if isinstance(node._expr, str):
        return ()
    return tuple(o for o in node._expr[1] if not isinstance(o._expr, str))


def _lift(value) -> Scalar:
    return value if isinstance(value, Scalar) else Scalar(value)


def _topological_order(root: Scalar, inputs=lambda node: node._parents) -> list[Scalar]:
    """Every node reachable from ``root``, each after all of its ``inputs`` (iterative DFS)."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        stack.extend((p, False) for p in inputs(node) if id(p) not in visited)
    return order


def _unary(name: str, x: Scalar, value: float, derivative: float, shown: Scalar | None = None
           ) -> Scalar:
    """A one-input node whose local derivative at x is already known; its formula reads
    name(shown), where ``shown`` defaults to x."""
    out = Scalar(value, (lambda a: f"{name}({a})", (x if shown is None else shown,)), (x,), op=name)

    def backward():
        x.grad += derivative * out.grad

    out._backward = backward
    return out


def sin(x: Scalar) -> Scalar:
    x = _lift(x)
    return _unary("sin", x, math.sin(x.value), math.cos(x.value))


def cos(x: Scalar) -> Scalar:
    x = _lift(x)
    return _unary("cos", x, math.cos(x.value), -math.sin(x.value))


def tanh(x: Scalar) -> Scalar:
    x = _lift(x)
    t = math.tanh(x.value)
    return _unary("tanh", x, t, 1 - t * t)


def _stable_sigmoid(v: float) -> float:
    if v >= 0:
        return 1 / (1 + math.exp(-v))
    e = math.exp(v)
    return e / (1 + e)


def sigmoid(x: Scalar) -> Scalar:
    x = _lift(x)
    s = _stable_sigmoid(x.value)
    return _unary("sigmoid", x, s, s * (1 - s))


def log(x: Scalar) -> Scalar:
    """Natural log. The value of log(sigmoid(v)) is computed as log-sigmoid straight from v,
    exact for any v. Where sigmoid(v) underflows (v < about -745) the node is wired straight
    to v, with derivative 1 - sigmoid(v): finite where 1/sigmoid(v) would not be (the sigmoid
    node itself then receives no gradient)."""
    x = _lift(x)
    if x.op == "sigmoid":
        (v,) = x._parents
        # log(sigmoid(v)) = -log1p(exp(-v)) = v - log1p(exp(v))
        value = -math.log1p(math.exp(-v.value)) if v.value >= 0 else (
            v.value - math.log1p(math.exp(v.value)))
        if x.value > 0:
            return _unary("log", x, value, 1 / x.value)
        return _unary("log", v, value, _stable_sigmoid(-v.value), shown=x)
    if x.value <= 0:
        raise ValueError(f"log of a non-positive value: {x.expr} = {x.value!r}")
    return _unary("log", x, math.log(x.value), 1 / x.value)
