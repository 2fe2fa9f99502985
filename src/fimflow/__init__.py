"""fimflow: calibration studies of ODE models with JAX/diffrax.

Fit by multistart maximum likelihood, then ask what the data really determine: Fisher
information, identifiability, sloppiness, prediction uncertainty.
"""

from ._precision import enable_float64_on_import as _enable_float64_on_import

_enable_float64_on_import()  # before any module of the library makes an array

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
from ._api import chi2 as chi2
from ._api import log_likelihood as log_likelihood
from ._api import simulate_measurements as simulate_measurements
from ._api import simulate_curves as simulate_curves
from ._precision import enable_float64 as enable_float64
from ._precision import require_float64 as require_float64
from ._fisher import FisherResult as FisherResult
from ._fisher import fisher_information as fisher_information
from ._fit import FitOptions as FitOptions
from ._fit import MultistartResult as MultistartResult
from ._fit import fit_multistart as fit_multistart
from ._fit import best_fit_summary as best_fit_summary
from ._fit import check_fit_options as check_fit_options
from ._fit import concatenate as concatenate_multistarts
from ._fit import latin_hypercube_starts as latin_hypercube_starts
from ._identifiability import EigenAnalysis as EigenAnalysis
from ._identifiability import eigen_analysis as eigen_analysis
from ._identifiability import parameter_verdicts as parameter_verdicts
from ._predict import PredictionSpec as PredictionSpec
from ._predict import delta_method as delta_method
from ._predict import prediction_and_gradient as prediction_and_gradient
from ._runtime import setup_jax as setup_jax
from ._runtime import setup_logging as setup_logging
from ._sloppiness import SloppinessSpectrum as SloppinessSpectrum
from ._sloppiness import sloppiness_spectrum as sloppiness_spectrum
from ._summary import problem_summary as problem_summary
from ._predict import default_predictions as default_predictions
from ._predict import prediction_bands as prediction_bands
from ._identifiability import participating as participating
from ._problem import from_scale as from_scale
from ._problem import to_scale as to_scale
from ._predict import check_prediction as check_prediction
from ._predict import compare_bands as compare_bands
from ._predict import spread_times as spread_times
from ._profile import ProfileOptions as ProfileOptions
from ._profile import ProfileResult as ProfileResult
from ._profile import profile_parameter as profile_parameter
from ._profile import profile_summary as profile_summary
from ._profile import profile_threshold as profile_threshold
from ._design import DesignOptions as DesignOptions
from ._design import DesignResult as DesignResult
from ._design import design_criterion as design_criterion
from ._design import optimal_design as optimal_design
from ._design import sensitivity_curves as sensitivity_curves
from ._prediction_profile import PredictionProfile as PredictionProfile
from ._prediction_profile import PredictionProfileOptions as PredictionProfileOptions
from ._ensemble import ensemble_bands as ensemble_bands
from ._ensemble import ensemble_from_profiles as ensemble_from_profiles
from ._prediction_profile import prediction_profile as prediction_profile
from ._prediction_profile import prediction_profile_bands as prediction_profile_bands
from ._sampling import dense_design as dense_design
from ._sampling import with_design as with_design
from ._structural import StructuralOptions as StructuralOptions
from ._structural import StructuralResult as StructuralResult
from ._structural import structural_identifiability as structural_identifiability
from ._structural import structural_tables as structural_tables


def __getattr__(name):
    # `fimflow.load_petab` without importing `petab` (seconds) in every process that never
    # loads a PEtab problem
    if name == "load_petab":
        from .petab import load_petab

        return load_petab
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
