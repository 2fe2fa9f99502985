"""The PEtab v2 math grammar's cases (../shared/petab_test_suite/v2.0.0_math/math_tests.yaml): each
expression, parsed with petab's v2 parser, evaluates to its expected value with fimflow's JAX
evaluator (what simulations use) and with sympy; a symbolic expectation is the same function."""

import math
import os

import numpy as np
import pytest
import sympy as sp
import yaml

from conftest import SHARED

MATH = os.path.join(SHARED, "petab_test_suite", "v2.0.0_math", "math_tests.yaml")
def _cases() -> list:
    if not os.path.isfile(MATH):
        return []
    with open(MATH) as handle:
        return yaml.safe_load(handle)["cases"]


CASES = _cases()
pytestmark = pytest.mark.skipif(not CASES, reason=f"{MATH} is not there (a user's clone without ../shared)")


def _value(x) -> float:
    return float(bool(x)) if isinstance(x, (bool, np.bool_)) or getattr(x, "dtype", None) == bool else float(x)


@pytest.mark.parametrize("case", CASES or [None], ids=[str(c["expression"]) for c in CASES] or ["none"])
def test_expression(case):
    from petab.v2.math import sympify_petab

    from fimflow.petab._jax_math import check_expression, evaluate

    expr = sympify_petab(str(case["expression"]))
    check_expression(expr)
    expected = case["expected"]
    if isinstance(expected, str) and not expected.strip().lstrip("+-").replace(".", "").isdigit() and expected.strip() not in ("inf", "-inf"):
        target = sympify_petab(expected)
        names = sorted({s.name for s in expr.free_symbols | target.free_symbols})
        assert sp.simplify(expr - target) == 0
        for values in np.random.default_rng(0).uniform(0.5, 2.0, size=(3, len(names))):
            env = dict(zip(names, values))
            assert _value(evaluate(expr, env)) == pytest.approx(float(target.subs({s: env[s.name] for s in target.free_symbols})), rel=1e-12)
        return
    expected = float(expected)
    got_jax = _value(evaluate(expr, {}))
    got_sympy = _value(expr.evalf()) if not isinstance(expr, sp.logic.boolalg.BooleanAtom) else float(bool(expr))
    for got in (got_jax, got_sympy):
        if math.isinf(expected):
            assert got == expected
        else:
            assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)
