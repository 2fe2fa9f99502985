"""Simulation and likelihood: diffrax solves per condition (`SolverConfig`), observables at the
measurement times, the negative log-likelihood on the estimation scale (`Objective`), the
notebook-level evaluations (`log_likelihood`, `chi2`, `simulate_measurements`,
`simulate_curves`), and the store of traced programs kept between processes.

Imports: `fimflow.problem`, `fimflow.provenance` and the foundation modules.
"""

from ._evaluate import chi2 as chi2
from ._evaluate import log_likelihood as log_likelihood
from ._evaluate import simulate_curves as simulate_curves
from ._evaluate import simulate_measurements as simulate_measurements
from ._objective import Objective as Objective
from ._programs import stored_call as stored_call
from ._programs import stored_program as stored_program
from ._solve import SolverConfig as SolverConfig
from ._solve import simulate as simulate
from ._solve import METHODS as METHODS
from ._rosenbrock import Rodas5P as Rodas5P
