r"""PEtab objective priors: reading them and their negative log-densities.

`objectivePriorType` (default `parameterScaleUniform` = flat) with `objectivePriorParameters`
`"a;b"`. Densities are of the linear parameter value $x$ (`uniform`, `normal`, `laplace`,
`logNormal`, `logLaplace`) or of the value on the parameter's scale $\theta$
(`parameterScale*`), as PEtab v1 defines them.
"""

import dataclasses
import math

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
}


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


def prior_nll(theta, x, codes, values):
    """Sum of negative log prior densities; `theta` on the estimation scale, `x` linear."""
    a, b = values[:, 0], values[:, 1]
    b = jnp.where(codes >= 2, b, 1.0)
    log_x = jnp.log(jnp.where(codes >= 4, x, 1.0))
    terms = [
        jnp.zeros_like(x),
        jnp.log(jnp.abs(values[:, 1] - a) + (codes != 1)),  # flat within [a, b]
        0.5 * ((x - a) / b) ** 2 + jnp.log(math.sqrt(2 * math.pi) * b),
        jnp.abs(x - a) / b + jnp.log(2 * b),
        0.5 * ((log_x - a) / b) ** 2 + jnp.log(math.sqrt(2 * math.pi) * b) + log_x,
        jnp.abs(log_x - a) / b + jnp.log(2 * b) + log_x,
        0.5 * ((theta - a) / b) ** 2 + jnp.log(math.sqrt(2 * math.pi) * b),
        jnp.abs(theta - a) / b + jnp.log(2 * b),
    ]
    out = jnp.zeros_like(x)
    for code, term in enumerate(terms):
        out = jnp.where(codes == code, term, out)
    return jnp.sum(out)
