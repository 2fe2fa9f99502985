"""The PEtab observable table: formulas parsed with PEtab's math grammar, placeholders,
transformations and noise distributions, checked row by row."""

import math
import re

import sympy as sp
from petab.v1.math import sympify_petab

from .. import _columns as C
from .._errors import ProblemFileError
from ._jax_math import UnsupportedExpression, check_expression
from ..problem import DISTRIBUTION_CODES, TRANSFORMATION_CODES
from ._sbml_math import TIME
from ._sbml_model import MeasurementModel

OBSERVABLE_FORMULA = "observableFormula"


def parse_math_cell(parse, text: str, resolve, path, row, column) -> sp.Expr:
    """A table cell's math: `text` parsed by `parse` (a PEtab grammar), its symbols mapped by
    `resolve(expr)` (which raises a `ProblemFileError` for an unknown one), checked to compile to
    JAX; a failure names the file, row and column."""
    try:
        expr = sp.sympify(parse(text))
    except Exception as error:  # the grammars' parsers raise several types
        raise ProblemFileError(path, f"cannot parse {text!r}: {error}", row=row, column=column) from error
    expr = resolve(expr)
    try:
        check_expression(expr)
    except UnsupportedExpression as error:
        raise ProblemFileError(path, f"unsupported math in {text!r}: {error}", row=row, column=column) from error
    return expr


def _text(value) -> str:
    """A table cell as stripped text ('' for empty/NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


class Observables:
    """Observable table: formulas as sympy, placeholders, transformation and distribution."""

    def __init__(self, df, path, spec, pids, parse=sympify_petab):
        self.ids = [str(i) for i in df.index]
        self.parse_math = parse  # the PEtab math grammar of the problem's version
        self.path = path
        self.pids = pids
        known = set(spec.inputs) | set(spec.states) | set(spec.derived_ids) | set(pids)
        self.observable_exprs, self.noise_exprs = [], []
        self.observable_placeholders, self.noise_placeholders = [], []
        self.transformation, self.distribution = [], []
        self.symbols = set()
        for row, (oid, rec) in enumerate(df.iterrows(), start=2):
            formula = self._parse(rec.get(OBSERVABLE_FORMULA), row, OBSERVABLE_FORMULA, oid, spec)
            noise = self._parse(rec.get(C.NOISE_FORMULA), row, C.NOISE_FORMULA, oid, spec)
            op = self._placeholders(formula, "observableParameter", oid, row, OBSERVABLE_FORMULA)
            nps = self._placeholders(noise, "noiseParameter", oid, row, C.NOISE_FORMULA)
            for expr, allowed, column in (
                (formula, known | set(op), OBSERVABLE_FORMULA),
                # PEtab v1 lets a noise formula use its observable's id and its observable
                # placeholders (e.g. sigma = a + b * scale * state, the scale estimated per row)
                (noise, known | set(nps) | set(op) | {oid}, C.NOISE_FORMULA),
            ):
                unknown = sorted({s.name for s in expr.free_symbols} - allowed - {TIME.name})
                if unknown:
                    raise ProblemFileError(
                        path,
                        f"formula of observable `{oid}` uses {unknown}, which are neither model "
                        "entities, parameters of the parameter table nor its placeholders.",
                        row=row, column=column,
                    )
                self.symbols |= {s.name for s in expr.free_symbols}
            if noise.is_number and not float(noise) > 0:
                raise ProblemFileError(path, f"noise formula of `{oid}` is {noise}; a noise scale must be > 0.", row=row, column=C.NOISE_FORMULA)
            t = _text(rec.get(C.OBSERVABLE_TRANSFORMATION)) or "lin"
            d = _text(rec.get(C.NOISE_DISTRIBUTION)) or "normal"
            if t not in TRANSFORMATION_CODES:
                raise ProblemFileError(path, f"transformation {t!r} is not one of lin, log, log10.", row=row, column=C.OBSERVABLE_TRANSFORMATION)
            if d not in DISTRIBUTION_CODES:
                raise ProblemFileError(path, f"noise distribution {d!r} is not one of normal, laplace.", row=row, column=C.NOISE_DISTRIBUTION)
            self.observable_exprs.append(formula)
            self.noise_exprs.append(noise)
            self.observable_placeholders.append(op)
            self.noise_placeholders.append(nps)
            self.transformation.append(TRANSFORMATION_CODES[t])
            self.distribution.append(DISTRIBUTION_CODES[d])

    def _parse(self, text, row, column, oid, spec):
        text = _text(text)
        if not text:
            raise ProblemFileError(self.path, f"observable `{oid}` has an empty {column}.", row=row, column=column)

        def resolve(expr):
            return expr.xreplace({s: TIME for s in expr.free_symbols if s.name in ("t", "time") and s.name not in spec.entities})

        return parse_math_cell(self.parse_math, text, resolve, self.path, row, column)

    def _placeholders(self, expr, kind, oid, row, column):
        pattern = re.compile(rf"^{kind}(\d+)_{re.escape(oid)}$")
        numbers = sorted(int(m.group(1)) for s in expr.free_symbols if (m := pattern.match(s.name)))
        if numbers != list(range(1, len(numbers) + 1)):
            raise ProblemFileError(
                self.path,
                f"placeholders {kind}N_{oid} must be numbered 1..n without gaps, got "
                f"{[f'{kind}{n}_{oid}' for n in numbers]}.",
                row=row, column=column,
            )
        return tuple(f"{kind}{n}_{oid}" for n in numbers)

    def measurement_model(self) -> MeasurementModel:
        return MeasurementModel(
            tuple(self.observable_exprs), tuple(self.noise_exprs),
            tuple(self.observable_placeholders), tuple(self.noise_placeholders),
        )
