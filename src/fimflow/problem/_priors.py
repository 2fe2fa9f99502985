r"""PEtab objective priors: reading them and their negative log-densities.

`objectivePriorType` (default `parameterScaleUniform` = flat) with `objectivePriorParameters`
`"a;b"`. Densities are of the linear parameter value $x$ (`uniform`, `normal`, `laplace`,
`logNormal`, `logLaplace`) or of the value on the parameter's scale $\theta$
(`parameterScale*`), as PEtab v1 defines them.
"""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import ProblemFileError
from ._tables import read_tsv

PRIOR_TYPE = "objectivePriorType"
PRIOR_PARAMETERS = "objectivePriorParameters"
PRIOR_CODES = {
    "parameterScaleUniform": 0,
    "uniform": 1,
    "normal": 2,
    "laplace": 3,
    "logNormal": 4,
    "logLaplace": 5,
    "parameterScaleNormal": 6,
    "parameterScaleLaplace": 7,
    # PEtab v2 families (of the linear value; `priorDistribution`)
    "cauchy": 8,
    "chisquare": 9,
    "exponential": 10,
    "gamma": 11,
    "rayleigh": 12,
    "log-uniform": 13,
}
V2_PRIOR_CODES = {
    "uniform": (1, 2), "normal": (2, 2), "laplace": (3, 2), "log-normal": (4, 2), "log-laplace": (5, 2),
    "cauchy": (8, 2), "chisquare": (9, 1), "exponential": (10, 1), "gamma": (11, 2), "rayleigh": (12, 1),
    "log-uniform": (13, 2),
}
"""PEtab v2 `priorDistribution` -> (code, number of `priorParameters`)."""


def read_priors(path, parameters):
    """`parameters` with the objective priors of the parameter table at `path`."""
    table = read_tsv(path)
    n = len(parameters.ids)
    codes = np.zeros(n, dtype=int)
    values = np.zeros((n, 2))
    if PRIOR_TYPE not in table.columns:
        return parameters
    for i, rec in enumerate(table.to_dict("records")):
        kind = rec[PRIOR_TYPE].strip() or "parameterScaleUniform"
        if kind not in PRIOR_CODES:
            raise ProblemFileError(path, f"unknown prior type {kind!r}; one of {sorted(PRIOR_CODES)}.", row=i + 2, column=PRIOR_TYPE)
        codes[i] = PRIOR_CODES[kind]
        text = rec.get(PRIOR_PARAMETERS, "").strip()
        if codes[i] == 0 and not text:
            continue
        try:
            a, b = (float(v) for v in text.split(";"))
        except ValueError:
            raise ProblemFileError(path, f"prior parameters must be two numbers 'a;b', got {text!r}.", row=i + 2, column=PRIOR_PARAMETERS) from None
        if codes[i] >= 2 and not b > 0:
            raise ProblemFileError(path, f"the scale of a {kind} prior must be > 0, got {b}.", row=i + 2, column=PRIOR_PARAMETERS)
        values[i] = a, b
    return dataclasses.replace(parameters, prior_codes=codes, prior_parameters=values)


def prior_nll(theta, x, codes, values, log_mass=0.0):
    """Sum of negative log prior densities; `theta` on the estimation scale, `x` linear.
    `log_mass`: per parameter the log of the prior's probability within the bounds (a v2 prior is
    truncated there: its density is divided by that mass), 0 where not truncated."""
    a, b = values[:, 0], values[:, 1]
    b = jnp.where((codes >= 2) & (codes != 9) & (codes != 10) & (codes != 12), b, 1.0)
    log_x = jnp.log(jnp.where((codes >= 4) & (codes != 6) & (codes != 7) & (codes != 8), x, 1.0))
    one = jnp.where(codes >= 9, a, 1.0)  # the one-parameter families' parameter (chisquare: dof; exponential, rayleigh: scale)
    terms = [
        jnp.zeros_like(x),
        jnp.log(jnp.abs(values[:, 1] - a) + (codes != 1)),  # flat within [a, b]
        0.5 * ((x - a) / b) ** 2 + jnp.log(math.sqrt(2 * math.pi) * b),
        jnp.abs(x - a) / b + jnp.log(2 * b),
        0.5 * ((log_x - a) / b) ** 2 + jnp.log(math.sqrt(2 * math.pi) * b) + log_x,
        jnp.abs(log_x - a) / b + jnp.log(2 * b) + log_x,
        0.5 * ((theta - a) / b) ** 2 + jnp.log(math.sqrt(2 * math.pi) * b),
        jnp.abs(theta - a) / b + jnp.log(2 * b),
        jnp.log(math.pi * b) + jnp.log1p(((x - a) / b) ** 2),  # cauchy(location, scale)
        -(0.5 * one - 1) * log_x + 0.5 * x + 0.5 * one * math.log(2) + jax.scipy.special.gammaln(0.5 * one),  # chisquare(dof)
        x / one + jnp.log(one),  # exponential(scale)
        -(a - 1) * log_x + x / b + jax.scipy.special.gammaln(a) + a * jnp.log(b),  # gamma(shape, scale)
        -log_x + 2 * jnp.log(one) + 0.5 * (x / one) ** 2,  # rayleigh(scale)
        log_x + jnp.log(jnp.log(jnp.abs(b / jnp.where(codes == 13, a, 1.0)))),  # log-uniform(lower, upper)
    ]
    out = jnp.zeros_like(x)
    for code, term in enumerate(terms):
        out = jnp.where(codes == code, term, out)
    return jnp.sum(out + log_mass)


def truncation_log_mass(code: int, a: float, b: float, lower: float, upper: float) -> float:
    """log P(lower <= X <= upper) of the prior `code` with parameters (a, b): what a PEtab v2 prior
    truncated at the parameter's bounds divides its density by (scipy's distributions)."""
    import scipy.stats as st

    dist = {
        1: lambda: st.uniform(a, b - a), 2: lambda: st.norm(a, b), 3: lambda: st.laplace(a, b),
        4: lambda: st.lognorm(b, scale=math.exp(a)), 5: lambda: st.loglaplace(1 / b, scale=math.exp(a)),
        8: lambda: st.cauchy(a, b), 9: lambda: st.chi2(a), 10: lambda: st.expon(scale=a),
        11: lambda: st.gamma(a, scale=b), 12: lambda: st.rayleigh(scale=a), 13: lambda: st.loguniform(a, b),
    }[code]()
    lo = dist.cdf(lower) if math.isfinite(lower) else 0.0
    hi = dist.cdf(upper) if math.isfinite(upper) else 1.0
    return math.log(hi - lo)
