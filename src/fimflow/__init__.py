"""fimflow: calibration studies of ODE models with JAX/diffrax.

Fit by multistart maximum likelihood, then ask what the data really determine: Fisher
information, identifiability, sloppiness, prediction uncertainty, design; and whether the
uncertainty reported is true (validation).

In a notebook, `fimflow.Calibration(problem, solver=...)` runs the stages with one convention
(the problem first, `x` on the estimation scale, solver settings in one place); the free
functions below are the same stages for experts, with the same argument order. The stages live in
subpackages named as the pipeline reads: `problem`, `petab`, `simulate`, `fit`, `fisher`,
`identify`, `predict`, `design`, `validate`; then `results` (files), `plots` (figures) and `workflow`
(config to options, the job preamble). See ARCHITECTURE.md.
"""

from ._precision import enable_float64_on_import as _enable_float64_on_import

_enable_float64_on_import()  # before any module of the library makes an array

__version__ = "0.1.0"

# foundation
from ._errors import FimflowInputError as FimflowInputError
from ._errors import ModelDefinitionError as ModelDefinitionError
from ._errors import ProblemFileError as ProblemFileError
from ._precision import enable_float64 as enable_float64
from ._precision import require_float64 as require_float64
from ._runtime import setup_jax as setup_jax
from ._runtime import setup_logging as setup_logging

# the notebook facade: every stage on one problem
from ._calibration import Calibration as Calibration
from .fit import BestFit as BestFit

# load
from ._load import load_problem as load_problem
from .problem import AbstractODEModel as AbstractODEModel
from .problem import ParameterTable as ParameterTable
from .problem import Scale as Scale
from .problem import Problem as Problem
from .problem import dense_design as dense_design
from .problem import from_scale as from_scale
from .problem import to_scale as to_scale
from .problem import with_design as with_design

# simulate
from .simulate import METHODS as SOLVER_METHODS
from .simulate import Objective as Objective
from .simulate import SolverConfig as SolverConfig
from .simulate import chi2 as chi2
from .simulate import log_likelihood as log_likelihood
from .simulate import simulate as simulate
from .simulate import simulate_curves as simulate_curves
from .simulate import simulate_measurements as simulate_measurements

# fit
from .fit import LBFGSB as LBFGSB
from .fit import TRF as TRF
from .fit import AbstractOptimiser as AbstractOptimiser
from .fit import FitOptions as FitOptions
from .fit import MultistartResult as MultistartResult
from .fit import Status as Status
from .fit import TrustFIM as TrustFIM
from .fit import best_fit as best_fit
from .fit import check_fit_options as check_fit_options
from .fit import concatenate as concatenate_multistarts
from .fit import fit_multistart as fit_multistart
from .fit import latin_hypercube_starts as latin_hypercube_starts
from .fit import optimiser_from_name as optimiser_from_name

# Fisher information
from .fisher import FisherResult as FisherResult
from .fisher import fisher_information as fisher_information

# identifiability and sloppiness
from .identify import EigenAnalysis as EigenAnalysis
from .identify import Identifiability as Identifiability
from .identify import Sloppiness as Sloppiness
from .identify import ProfileEnd as ProfileEnd
from .identify import ProfileOptions as ProfileOptions
from .identify import ProfileResult as ProfileResult
from .identify import SloppinessSpectrum as SloppinessSpectrum
from .identify import StructuralOptions as StructuralOptions
from .identify import StructuralResult as StructuralResult
from .identify import eigen_analysis as eigen_analysis
from .identify import parameter_verdicts as parameter_verdicts
from .identify import participating as participating
from .identify import profile_parameter as profile_parameter
from .identify import profile_summary as profile_summary
from .identify import profile_threshold as profile_threshold
from .identify import sloppiness_spectrum as sloppiness_spectrum
from .identify import structural_identifiability as structural_identifiability
from .identify import structural_tables as structural_tables

# prediction uncertainty
from .predict import PredictionProfile as PredictionProfile
from .predict import PredictionProfileOptions as PredictionProfileOptions
from .predict import PredictionSpec as PredictionSpec
from .predict import check_prediction as check_prediction
from .predict import compare_bands as compare_bands
from .predict import default_predictions as default_predictions
from .predict import delta_method as delta_method
from .predict import ensemble_bands as ensemble_bands
from .predict import ensemble_from_profiles as ensemble_from_profiles
from .predict import prediction_and_gradient as prediction_and_gradient
from .predict import prediction_bands as prediction_bands
from .predict import prediction_profile as prediction_profile
from .predict import prediction_profile_bands as prediction_profile_bands
from .predict import spread_times as spread_times

# design
from .design import DesignOptions as DesignOptions
from .design import DesignResult as DesignResult
from .design import design_criterion as design_criterion
from .design import check_experiment_settings as check_experiment_settings
from .design import experiment_fims as experiment_fims
from .design import rank_experiments as rank_experiments
from .design import optimal_design as optimal_design
from .design import sensitivity_curves as sensitivity_curves

# validation
from .validate import RefitOptions as RefitOptions
from .validate import ValidationOptions as ValidationOptions
from .validate import ValidationResult as ValidationResult
from .validate import refit_datasets as refit_datasets
from .validate import validate_study as validate_study
from .validate import kl_along_directions as kl_along_directions
from .validate import kl_divergence as kl_divergence
from .validate import monte_carlo_kl as monte_carlo_kl

# results
from .results import problem_summary as problem_summary


def __getattr__(name):
    # `fimflow.load_petab` without importing `petab` (seconds) in every process that never
    # loads a PEtab problem
    if name == "load_petab":
        from .petab import load_petab

        return load_petab
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
