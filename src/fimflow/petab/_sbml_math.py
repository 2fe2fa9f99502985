"""SBML MathML (libsbml ASTs) to sympy expressions, by walking the tree: nothing is `eval`'d.

Only the operators listed in `_FUNCTIONS`, `_RELATIONS` and the node kinds handled in
`ast_to_sympy` are accepted; anything else raises `UnsupportedMath` naming the construct.
`breakpoints` finds the times where `time`-dependent relations in such expressions switch.
"""

import libsbml
import sympy as sp

TIME = sp.Symbol("time", real=True)
"""The model time; SBML's `time` csymbol and PEtab's `t` both map to it."""


class UnsupportedMath(ValueError):
    """SBML math that fimflow cannot represent (the message names the construct)."""


_FUNCTIONS = {
    libsbml.AST_FUNCTION_EXP: sp.exp,
    libsbml.AST_FUNCTION_LN: sp.log,
    libsbml.AST_FUNCTION_ABS: sp.Abs,
    libsbml.AST_FUNCTION_FLOOR: sp.floor,
    libsbml.AST_FUNCTION_CEILING: sp.ceiling,
    libsbml.AST_FUNCTION_SIN: sp.sin,
    libsbml.AST_FUNCTION_COS: sp.cos,
    libsbml.AST_FUNCTION_TAN: sp.tan,
    libsbml.AST_FUNCTION_SINH: sp.sinh,
    libsbml.AST_FUNCTION_COSH: sp.cosh,
    libsbml.AST_FUNCTION_TANH: sp.tanh,
    libsbml.AST_FUNCTION_ARCSIN: sp.asin,
    libsbml.AST_FUNCTION_ARCCOS: sp.acos,
    libsbml.AST_FUNCTION_ARCTAN: sp.atan,
    libsbml.AST_FUNCTION_ARCSINH: sp.asinh,
    libsbml.AST_FUNCTION_ARCCOSH: sp.acosh,
    libsbml.AST_FUNCTION_ARCTANH: sp.atanh,
}

_RELATIONS = {
    libsbml.AST_RELATIONAL_EQ: sp.Eq,
    libsbml.AST_RELATIONAL_NEQ: sp.Ne,
    libsbml.AST_RELATIONAL_LT: sp.Lt,
    libsbml.AST_RELATIONAL_LEQ: sp.Le,
    libsbml.AST_RELATIONAL_GT: sp.Gt,
    libsbml.AST_RELATIONAL_GEQ: sp.Ge,
}

_LOGICAL = {
    libsbml.AST_LOGICAL_AND: sp.And,
    libsbml.AST_LOGICAL_OR: sp.Or,
    libsbml.AST_LOGICAL_XOR: sp.Xor,
}


def symbol(name: str) -> sp.Symbol:
    """The sympy symbol of a model or PEtab id (`time`/`t` handled by the callers)."""
    return sp.Symbol(name, real=True)


def ast_to_sympy(node, functions: dict | None = None) -> sp.Expr:
    """Convert a libsbml `ASTNode` to sympy; `functions` maps function-definition ids to
    `sympy.Lambda` objects, which are inlined at each call."""
    functions = functions or {}
    if node is None:
        raise UnsupportedMath("missing or unparsable math element")
    kind = node.getType()
    children = [node.getChild(i) for i in range(node.getNumChildren())]

    def args():
        return [ast_to_sympy(c, functions) for c in children]

    if kind == libsbml.AST_INTEGER:
        return sp.Integer(node.getInteger())
    if kind in (libsbml.AST_REAL, libsbml.AST_REAL_E):
        value = node.getReal()
        if value != value:
            return sp.nan
        if value in (float("inf"), float("-inf")):
            return sp.oo if value > 0 else -sp.oo
        return sp.Float(value, 17)
    if kind == libsbml.AST_RATIONAL:
        return sp.Rational(node.getNumerator(), node.getDenominator())
    if kind == libsbml.AST_NAME:
        return symbol(node.getName())
    if kind == libsbml.AST_NAME_TIME:
        return TIME
    if kind == libsbml.AST_NAME_AVOGADRO:
        return sp.Float(6.02214076e23, 17)
    if kind == libsbml.AST_CONSTANT_E:
        return sp.E
    if kind == libsbml.AST_CONSTANT_PI:
        return sp.pi
    if kind == libsbml.AST_CONSTANT_TRUE:
        return sp.true
    if kind == libsbml.AST_CONSTANT_FALSE:
        return sp.false
    if kind == libsbml.AST_PLUS:
        return sp.Add(*args()) if children else sp.Integer(0)
    if kind == libsbml.AST_TIMES:
        return sp.Mul(*args()) if children else sp.Integer(1)
    if kind == libsbml.AST_MINUS:
        a = args()
        return -a[0] if len(a) == 1 else a[0] - a[1]
    if kind == libsbml.AST_DIVIDE:
        a, b = args()
        return a / b
    if kind in (libsbml.AST_POWER, libsbml.AST_FUNCTION_POWER):
        a, b = args()
        return sp.Pow(a, b)
    if kind == libsbml.AST_FUNCTION_ROOT:
        a = args()
        return a[0] ** sp.Rational(1, 2) if len(a) == 1 else a[1] ** (1 / a[0])
    if kind == libsbml.AST_FUNCTION_LOG:
        a = args()
        return sp.log(a[0], 10) if len(a) == 1 else sp.log(a[1], a[0])
    if kind in _FUNCTIONS:
        return _FUNCTIONS[kind](*args())
    if kind == libsbml.AST_FUNCTION_MAX:
        return sp.Max(*args())
    if kind == libsbml.AST_FUNCTION_MIN:
        return sp.Min(*args())
    if kind in _RELATIONS:
        a = args()
        if len(a) != 2:
            raise UnsupportedMath(f"relational operator with {len(a)} arguments (only 2 supported)")
        return _RELATIONS[kind](a[0], a[1], evaluate=False)
    if kind in _LOGICAL:
        return _LOGICAL[kind](*args())
    if kind == libsbml.AST_LOGICAL_NOT:
        return sp.Not(*args())
    if kind == libsbml.AST_FUNCTION_PIECEWISE:
        a = args()
        pieces = [(a[i], a[i + 1]) for i in range(0, len(a) - 1, 2)]
        otherwise = a[-1] if len(a) % 2 else sp.nan
        return sp.Piecewise(*pieces, (otherwise, True))
    if kind == libsbml.AST_FUNCTION:
        name = node.getName()
        if name not in functions:
            raise UnsupportedMath(f"call of undefined function `{name}`")
        return functions[name](*args())
    if kind == libsbml.AST_LAMBDA:
        a = args()
        return sp.Lambda(tuple(a[:-1]), a[-1])
    if kind == libsbml.AST_FUNCTION_DELAY:
        raise UnsupportedMath("`delay` (delay differential equations)")
    if kind == libsbml.AST_FUNCTION_RATE_OF:
        raise UnsupportedMath("`rateOf`")
    name = node.getName() or libsbml.formulaToL3String(node)
    raise UnsupportedMath(f"MathML element `{name}` (AST type {kind})")


def time_root(difference, inputs):
    """The time where `difference` (linear in `time`, coefficients of `inputs`) is zero, or None."""
    difference = sp.expand(difference)
    if TIME not in difference.free_symbols:
        return None
    slope = difference.coeff(TIME, 1)
    offset = difference.coeff(TIME, 0)
    if sp.expand(slope * TIME + offset - difference) != 0 or slope == 0:
        return None  # not linear in time
    if not {s.name for s in (slope.free_symbols | offset.free_symbols)} <= inputs:
        return None
    return -offset / slope


def breakpoints(exprs, inputs) -> tuple:
    """Times at which a piecewise/relational switches: each relation whose sides differ by an
    expression linear in `time` with coefficients of inputs only (`time < t0`, `time - 1799.99 < 0`,
    `2*time >= k`; sympy rewrites only some of these as `time REL expr`)."""
    points = []
    for expr in exprs:
        for node in sp.preorder_traversal(expr):
            if isinstance(node, sp.core.relational.Relational):
                root = time_root(node.args[0] - node.args[1], inputs)
                if root is not None and root not in points:
                    points.append(root)
    return tuple(points)
