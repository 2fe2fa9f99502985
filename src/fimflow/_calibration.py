"""`Calibration`: the stages of a calibration study on one problem, for a notebook and for the
workflow's scripts alike (they run the same code).

One convention everywhere: the problem is given once, `x` is always the estimated parameters on
the **estimation scale** in the order of `problem.parameter_ids` (a `BestFit` is taken for its
`x`), and the solver settings are given once (`solver=`).
"""

import dataclasses

import numpy as np
import pandas as pd

from .design import DesignOptions, DesignResult, optimal_design, rank_experiments, sensitivity_curves
from .fisher import FisherResult, expected_fisher_information, fisher_information, observed_fisher_information
from .fit import FitOptions, MultistartResult, fit_multistart, latin_hypercube_starts
from .fit import BestFit, best_fit
from .identify import (ProfileOptions, ProfileResult, StructuralOptions, StructuralResult, profile_parameter,
                       structural_identifiability)
from .identify import Identifiability, Sloppiness, eigen_analysis, identifiability, sloppiness
from .predict import (PredictionProfileOptions, PredictionSpec, default_predictions, ensemble_bands,
                      ensemble_from_profiles, prediction_bands, prediction_profile_bands)
from .problem import Problem, dense_design, with_design
from .simulate import Objective, SolverConfig, log_likelihood, simulate_curves, simulate_measurements, stored_call
from .validate import ValidationOptions, ValidationResult, refit_datasets, validate_study

_FIMS = {"expected": expected_fisher_information, "observed": observed_fisher_information}


class Calibration:
    """A calibration study of `problem` with the ODE solver settings `solver`.

    ```python
    study = fimflow.Calibration(fimflow.load_problem("problem.yaml"))
    best = study.best(study.fit(n_starts=20))
    fim = study.fisher(best)                     # expected and observed, side by side
    verdicts = study.identifiability(best).verdicts
    band, shares = study.predict(best)
    ```
    """

    def __init__(self, problem: Problem, *, solver: SolverConfig = SolverConfig()):
        self.problem = problem
        self.solver = solver
        self._objective = None

    def __repr__(self) -> str:
        return f"Calibration({self.problem.id!r}, {self.problem.n_params} estimated parameters, solver={self.solver})"

    @property
    def objective(self) -> Objective:
        """The problem's negative log-likelihood with this solver (built once)."""
        if self._objective is None:
            self._objective = Objective.from_problem(self.problem, self.solver)
        return self._objective

    def x(self, x=None) -> np.ndarray:
        """`x` as an array on the estimation scale: a `BestFit`'s, or the nominal values for `None`."""
        if x is None:
            return self.problem.parameters.nominal_theta()
        return self.problem.check_x(x.x if isinstance(x, BestFit) else x)

    # simulate
    def log_likelihood(self, x=None) -> float:
        return log_likelihood(self.problem, self.x(x), config=self.solver)

    def simulate(self, x=None):
        """The measurement table with the simulation at `x` beside each measurement."""
        return simulate_measurements(self.problem, self.x(x), config=self.solver)

    def curves(self, x=None, *, n_points: int = 201):
        """Every observable of every condition on an even time grid (for plots)."""
        return simulate_curves(self.problem, self.x(x), config=self.solver, n_points=n_points)

    # fit
    def starts(self, n_starts: int, *, seed: int = 0) -> np.ndarray:
        """`n_starts` seeded Latin-hypercube start points within the bounds (estimation scale)."""
        return latin_hypercube_starts(self.problem, n_starts, seed=seed)

    def fit(self, n_starts: int = 20, *, seed: int = 0, options: FitOptions = FitOptions(), starts=None,
            start_index=None) -> MultistartResult:
        """Multistart fit from `starts` (default: `self.starts(n_starts, seed=seed)`); a start that
        fails is a row with its status, never an exception."""
        starts = self.starts(n_starts, seed=seed) if starts is None else starts
        return fit_multistart(self.problem, starts, start_index=start_index, objective=self.objective,
                              options=options)

    def best(self, multistart: MultistartResult, *, tolerance: float = 0.1) -> BestFit:
        """The best start and how many starts reached it (within `tolerance` in NLL)."""
        return best_fit(multistart, self.problem, tolerance=tolerance)

    # Fisher information, identifiability, sloppiness
    def fisher(self, x) -> FisherResult:
        """Expected and observed Fisher information at `x` (estimation scale)."""
        return fisher_information(self.problem, self.x(x), objective=self.objective)

    def _fim(self, x, fim, which: str) -> np.ndarray:
        """The `which` FIM: from `fim` (a `FisherResult` or a matrix) if given, else only that one
        computed at `x` (the observed one costs second derivatives: not computed unless asked)."""
        if which not in _FIMS:
            raise ValueError(f"`which` must be one of {tuple(_FIMS)}, got {which!r}.")
        if isinstance(fim, FisherResult):
            return np.asarray(getattr(fim, which))
        if fim is not None:
            return np.asarray(fim, dtype=np.float64)
        return np.asarray(stored_call(_FIMS[which], self.objective, self.x(x)))

    def identifiability(self, x, *, fim=None, which: str = "expected", rank_tolerance: float = 1e-8,
                        participation: float = 0.1) -> Identifiability:
        """Per-parameter verdicts and null directions of the FIM at `x` (`fim`: a `FisherResult`
        or a matrix already computed; `which`: "expected" or "observed")."""
        lower, upper = self.problem.parameters.bounds()
        return identifiability(self._fim(x, fim, which), self.problem.parameter_ids, self.x(x), lower, upper,
                               rank_tolerance=rank_tolerance, participation=participation)

    def sloppiness(self, x=None, *, fim=None, which: str = "expected", rank_tolerance: float = 1e-8) -> Sloppiness:
        """The FIM's eigenvalue spectrum over decades, stiff and sloppy directions."""
        return sloppiness(self._fim(x, fim, which), self.problem.parameter_ids, rank_tolerance=rank_tolerance)

    def profile(self, x, parameter: str, *, options: ProfileOptions = ProfileOptions()) -> ProfileResult:
        """The profile likelihood of `parameter` from the fit `x`."""
        return profile_parameter(self.problem, parameter, self.x(x), objective=self.objective, options=options)

    def structural(self, x, *, options: StructuralOptions = StructuralOptions()) -> StructuralResult:
        """Numerical structural identifiability: sensitivity ranks on a dense grid at points around `x`."""
        return structural_identifiability(self.problem, self.x(x), config=self.solver, options=options)

    # prediction uncertainty
    def predictions(self, predictions=None) -> list[PredictionSpec]:
        """`PredictionSpec`s from specs or dicts; `None`: every measured observable and condition."""
        if not predictions:
            return default_predictions(self.problem)
        return [p if isinstance(p, PredictionSpec) else PredictionSpec(**p) for p in predictions]

    def predict(self, x, predictions=None, *, fim=None, level: float = 0.95, rank_tolerance: float = 1e-8):
        """Delta-method bands of `predictions` at `x`, each eigen-direction's share of the variance.
        **Returns:** `(bands, contributions)` tables (see `prediction_bands`)."""
        analysis = eigen_analysis(self._fim(x, fim, "expected"), self.problem.parameter_ids,
                                  relative_tolerance=rank_tolerance)
        return prediction_bands(self.problem, self.x(x), self.predictions(predictions), analysis, level=level,
                                objective=self.objective)

    def prediction_profiles(self, x, predictions=None, *, times=None,
                            options: PredictionProfileOptions = PredictionProfileOptions()):
        """Prediction profile likelihood intervals (at `times` only, if given: none for an empty list)."""
        if times is not None and len(times) == 0:
            return pd.DataFrame(columns=["prediction", "time", "value", "lower", "upper", "lower_end", "upper_end"])
        return prediction_profile_bands(self.problem, self.predictions(predictions), self.x(x),
                                        objective=self.objective, options=options, times=times)

    def ensemble(self, x, profiles, predictions=None):
        """Bands over the profile points (`ProfileResult`s) within their threshold."""
        members = ensemble_from_profiles([p.points for p in profiles], self.problem.parameter_ids,
                                         profiles[0].threshold)
        return ensemble_bands(self.problem, self.predictions(predictions), members, self.x(x), objective=self.objective)

    # design
    def design(self, x, *, options: DesignOptions = DesignOptions(), candidates=None) -> DesignResult:
        """Optimal sampling times at `x` (candidates: default a dense grid of `options.n_candidates`)."""
        candidates = dense_design(self.problem, options.n_candidates) if candidates is None else candidates
        return optimal_design(self.problem, self.x(x), candidates=candidates, options=options, config=self.solver)

    def rank_experiments(self, x, experiment: str, settings, *, criterion: str = "D", include_current: bool = True) -> pd.DataFrame:
        """Candidate settings of `experiment` (doses, period start times: `fimflow.rank_experiments`)
        ranked by `criterion` of the information they would add at `x`."""
        return rank_experiments(self.problem, self.x(x), experiment, pd.DataFrame(settings), criterion=criterion,
                                include_current=include_current, config=self.solver)

    def sensitivity_curves(self, x, candidates):
        """Noise-weighted sensitivities of every candidate sample (the design figure's curves)."""
        return sensitivity_curves(self.problem, self.x(x), candidates, config=self.solver)

    # validation
    def _designed(self, design):
        """The problem with the samples of `design` (a `DesignResult` or its table) and its objective."""
        table = design.design if isinstance(design, DesignResult) else design
        problem = with_design(self.problem, table)
        return problem, Objective.from_problem(problem, self.solver)

    def validation_refits(self, x, indices, *, options: ValidationOptions = ValidationOptions(),
                          fit: FitOptions = FitOptions(), level: float = 0.95, predictions=(), design=None) -> pd.DataFrame:
        """Data sets `indices` of a validation study simulated at `x`, refitted (`refit_datasets`);
        with `design` (a `DesignResult` or its table), simulated on the design's samples instead
        (no profile or prediction checks: those belong to the problem's own design)."""
        refit = options.refit_options(fit, level)
        if design is None:
            return refit_datasets(self.problem, self.x(x), indices, seed=options.seed, objective=self.objective,
                                  options=refit, predictions=self.predictions(predictions) if predictions else ())
        problem, objective = self._designed(design)
        return refit_datasets(problem, self.x(x), indices, seed=options.seed, objective=objective,
                              options=dataclasses.replace(refit, profile_datasets=0))

    def validation_summary(self, x, refits: pd.DataFrame, *, level: float = 0.95, predictions=(), design=None,
                           design_refits: pd.DataFrame | None = None) -> ValidationResult:
        """The validation study of the gathered `refits` (and of `design_refits` on `design`)."""
        designed = None
        if design is not None and design_refits is not None:
            designed = (self._designed(design)[1], design_refits)
        return validate_study(self.problem, self.x(x), refits, objective=self.objective, level=level,
                              predictions=self.predictions(predictions) if predictions else (), designed=designed)

    def validate(self, x, *, options: ValidationOptions = ValidationOptions(), fit: FitOptions = FitOptions(),
                 level: float = 0.95, predictions=(), design=None) -> ValidationResult:
        """Is the reported uncertainty at `x` true? `options.n_datasets` data sets simulated at `x`,
        refitted, and checked (Cramér–Rao, coverage, the two faces, KL; the design check with
        `design`): see `fimflow.validate`."""
        indices = range(options.n_datasets)
        refits = self.validation_refits(x, indices, options=options, fit=fit, level=level, predictions=predictions)
        design_refits = None
        if design is not None:
            design_refits = self.validation_refits(x, indices, options=options, fit=fit, level=level, design=design)
        return self.validation_summary(x, refits, level=level, predictions=predictions, design=design,
                                       design_refits=design_refits)
