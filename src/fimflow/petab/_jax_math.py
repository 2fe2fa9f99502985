"""Evaluate sympy expressions with JAX by walking the expression tree (no code generation).

`evaluate(expr, env)` is called while JAX traces a model function, so the walk runs once per
compilation; the compiled program contains only `jax.numpy` operations. `check_expression`
runs the same dispatch at load time so that an unsupported construct is reported before any
simulation.
"""

import jax.numpy as jnp
import sympy as sp
from jax import lax
from sympy.functions.elementary.piecewise import ExprCondPair

_UNARY = {
    sp.exp: jnp.exp,
    sp.log: jnp.log,
    sp.Abs: jnp.abs,
    sp.sign: jnp.sign,
    sp.floor: jnp.floor,
    sp.ceiling: jnp.ceil,
    sp.sin: jnp.sin,
    sp.cos: jnp.cos,
    sp.tan: jnp.tan,
    sp.sinh: jnp.sinh,
    sp.cosh: jnp.cosh,
    sp.tanh: jnp.tanh,
    sp.asin: jnp.arcsin,
    sp.acos: jnp.arccos,
    sp.atan: jnp.arctan,
    sp.asinh: jnp.arcsinh,
    sp.acosh: jnp.arccosh,
    sp.atanh: jnp.arctanh,
}

_RELATIONAL = {
    sp.StrictLessThan: jnp.less,
    sp.LessThan: jnp.less_equal,
    sp.StrictGreaterThan: jnp.greater,
    sp.GreaterThan: jnp.greater_equal,
    sp.Equality: jnp.equal,
    sp.Unequality: jnp.not_equal,
}


class UnsupportedExpression(ValueError):
    """A sympy construct with no JAX counterpart here (the message names it)."""


def check_expression(expr) -> None:
    """Raise `UnsupportedExpression` if `evaluate` cannot handle `expr` (symbols not checked)."""
    for node in sp.preorder_traversal(expr):
        if isinstance(node, (sp.Symbol, sp.Number, sp.NumberSymbol, sp.Add, sp.Mul, sp.Pow,
                             sp.Piecewise, sp.And, sp.Or, sp.Not, sp.Xor, sp.Max, sp.Min,
                             sp.logic.boolalg.BooleanAtom, ExprCondPair, sp.Tuple)):
            continue
        if type(node) in _RELATIONAL or node.func in _UNARY:
            continue
        if node is sp.nan or node in (sp.oo, -sp.oo, sp.zoo):
            continue
        raise UnsupportedExpression(f"`{node.func.__name__}` in `{expr}`")


def evaluate(expr, env: dict):
    """Value of `expr` with each symbol's value taken from `env` (symbol name -> array)."""
    if isinstance(expr, sp.Symbol):
        return env[expr.name]
    if isinstance(expr, sp.Integer):
        return jnp.asarray(float(int(expr)))
    if isinstance(expr, (sp.Number, sp.NumberSymbol)):
        return jnp.asarray(float(expr))
    if isinstance(expr, sp.logic.boolalg.BooleanAtom):
        return jnp.asarray(bool(expr))
    if isinstance(expr, sp.Add):
        terms = [evaluate(a, env) for a in expr.args]
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return total
    if isinstance(expr, sp.Mul):
        factors = [evaluate(a, env) for a in expr.args]
        product = factors[0]
        for factor in factors[1:]:
            product = product * factor
        return product
    if isinstance(expr, sp.Pow):
        base, exponent = expr.args
        b = evaluate(base, env)
        if isinstance(exponent, sp.Integer):
            return lax.integer_pow(jnp.asarray(b, dtype=jnp.float64), int(exponent))
        if exponent == sp.Rational(1, 2):
            return jnp.sqrt(b)
        return jnp.power(b, evaluate(exponent, env))
    if isinstance(expr, sp.Piecewise):
        value = None
        for piece, condition in reversed(expr.args):
            v = evaluate(piece, env)
            value = v if value is None or condition == sp.true else jnp.where(evaluate(condition, env), v, value)
        return value
    if type(expr) in _RELATIONAL:
        return _RELATIONAL[type(expr)](evaluate(expr.args[0], env), evaluate(expr.args[1], env))
    if isinstance(expr, sp.And):
        return _fold(jnp.logical_and, expr.args, env)
    if isinstance(expr, sp.Or):
        return _fold(jnp.logical_or, expr.args, env)
    if isinstance(expr, sp.Xor):
        return _fold(jnp.logical_xor, expr.args, env)
    if isinstance(expr, sp.Not):
        return jnp.logical_not(evaluate(expr.args[0], env))
    if isinstance(expr, sp.Max):
        return _fold(jnp.maximum, expr.args, env)
    if isinstance(expr, sp.Min):
        return _fold(jnp.minimum, expr.args, env)
    if expr.func in _UNARY:
        return _UNARY[expr.func](evaluate(expr.args[0], env))
    raise UnsupportedExpression(f"`{expr.func.__name__}` in `{expr}`")


def _fold(op, args, env):
    values = [evaluate(a, env) for a in args]
    out = values[0]
    for v in values[1:]:
        out = op(out, v)
    return out
