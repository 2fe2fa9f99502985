"""fimflow: calibration studies of ODE models with JAX/diffrax.

Fit by multistart maximum likelihood, then ask what the data really determine: Fisher
information, identifiability, sloppiness, prediction uncertainty.
"""

from ._errors import FimflowInputError as FimflowInputError
from ._errors import ModelDefinitionError as ModelDefinitionError
from ._errors import ProblemFileError as ProblemFileError
from ._load import load_problem as load_problem
from ._model import AbstractODEModel as AbstractODEModel
from ._objective import Objective as Objective
from ._problem import ParameterTable as ParameterTable
from ._problem import Problem as Problem
from ._simulate import SolverConfig as SolverConfig
from ._simulate import simulate as simulate

__version__ = "0.1.0"
from ._api import log_likelihood as log_likelihood
from ._api import simulate_measurements as simulate_measurements
from ._precision import enable_float64 as enable_float64
from ._precision import require_float64 as require_float64
