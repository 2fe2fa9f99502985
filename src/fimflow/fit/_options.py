"""The local optimiser's settings for a multistart fit (`FitOptions`)."""

import dataclasses
import os

from ._optimisers import OPTIMISERS, AbstractOptimiser, TrustFIM, optimiser_from_name

METHODS = tuple(OPTIMISERS)  # the optimisers' names in a config file: trust_fim, lbfgsb, trf


@dataclasses.dataclass(frozen=True)
class FitOptions:
    """Local optimiser settings.

    **Arguments:**
    - `method`: the optimiser by its name in a config file, `"trust_fim"`, `"lbfgsb"` or
      `"trf"` (`optimiser_from_name`); when given it sets `optimiser` (whatever `optimiser`
      says, so `dataclasses.replace(options, method="trf")` works too). Read back, `method` is
      the optimiser's name.
    - `optimiser`: `TrustFIM()` (default: trust-region Newton on the objective with the expected
      Fisher information, noise block and prior Hessian included, as curvature, and a secant
      correction near the optimum; see `_trust_region`; any noise model), `LBFGSB()` (L-BFGS-B
      on the objective with its exact gradient) or `TRF()` (scipy's trust-region reflective
      least squares on the residuals with the exact Jacobian, as Data2Dynamics does; normal
      noise without priors only: other problems are refused, see `check_fit_options`). On
      Boehm_JProteomeRes2014's 100 reference starts (one process, 2 cores, 12-06): trust_fim
      26.9 s with its compile and 18 starts at the optimum (pyPESTO+AMICI+fides in the same run:
      69.5 s with its model build, 3); earlier, with Kvaerno5 and batches of 4 (trust_fim 84 s
      and 15 then): L-BFGS-B 241 s and 4, TRF 1120 s and 3.
    - `max_iterations`: iterations (trust_fim, lbfgsb) or function evaluations (trf) per start.
    - `stall_iterations`, `stall_tol`, `stall_gap` (trust_fim): a start whose NLL fell by less
      than `stall_tol * (1 + |NLL|)` over its last `stall_iterations` iterations ends as
      `"stalled"` (`stall_iterations=0`: never) if the FIM's quadratic model still promises a
      decrease of more than `stall_gap` (the Gauss–Newton estimate of its distance above the
      nearest optimum within the bounds, `_trust_region.model_gap`): such a start crawls far
      from an optimum, where each simulation is costly; a crawl the model puts closer goes on.
      The default gap, 1.92, is
      half the 95 % chi-square quantile with one degree of freedom: a point closer than that is
      inside its optimum's 95 % likelihood-ratio region, where crawling along sloppy directions
      is how a fit ends, not a far search (the figures for the defaults: README, Fitting).
    - `ftol`, `xtol`, `gtol`: stopping tolerances (scipy's meanings for lbfgsb and trf; for
      trust_fim relative decrease, step and free-gradient, see `_trust_region.minimize`).
    - `batch_size`: starts advancing together, their model evaluations batched into one
      vectorised call. Default 1: a batch shares the solver loop's overhead but waits for its
      slowest lane, and starts' costs differ by decades (Boehm_JProteomeRes2014, 100 starts:
      30.5 s alone, 32.0 s in fours; Fujita_SciSignal2010 far slower in fours: README, Fitting).
    - `threads`: batches evaluated concurrently (one per CPU core; `None`: every core this
      process may use). Results do not depend on it.
    - `max_time_s`: wall-clock budget per start (`None`: none). A start still running when it
      is spent ends with status `"max_time"` at the lowest point it evaluated, so a cluster
      job's time limit is met with every start recorded. Results then depend on the machine's
      speed: leave it `None` where they must be reproducible.
    - `profile_scalings`: scaling factors of observables (parameters that only multiply an
      observable with normal noise) are solved in closed form at every evaluation and the
      optimiser searches the other parameters (hierarchical optimisation, `_scalings`); the
      result reports their closed-form values. The optimum is the same; the search differs.
    """

    method: dataclasses.InitVar[str | None] = None  # read back: the property below the class
    optimiser: AbstractOptimiser = TrustFIM()
    max_iterations: int = 1000
    stall_iterations: int = 100
    stall_tol: float = 1e-5
    stall_gap: float = 1.92
    ftol: float = 1e-10
    xtol: float = 1e-10
    gtol: float = 1e-10
    batch_size: int = 1
    threads: int | None = None
    max_time_s: float | None = None
    profile_scalings: bool = True

    def __post_init__(self, method):
        if method is not None:
            object.__setattr__(self, "optimiser", optimiser_from_name(method))
        if not isinstance(self.optimiser, AbstractOptimiser):
            raise ValueError(
                f"`optimiser` must be one of TrustFIM(), LBFGSB(), TRF() (an AbstractOptimiser), got "
                f"{self.optimiser!r}; pass a name as `method`, one of {METHODS}."
            )
        if self.max_iterations < 1:
            raise ValueError(f"`max_iterations` must be >= 1, got {self.max_iterations}.")
        if self.stall_iterations < 0 or not self.stall_tol >= 0 or not self.stall_gap >= 0:
            raise ValueError(f"`stall_iterations`, `stall_tol` and `stall_gap` must be >= 0, got "
                             f"{self.stall_iterations}, {self.stall_tol} and {self.stall_gap}.")
        if self.batch_size < 1:
            raise ValueError(f"`batch_size` must be >= 1, got {self.batch_size}.")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"`threads` must be >= 1 or None, got {self.threads}.")
        if self.max_time_s is not None and not self.max_time_s > 0:
            raise ValueError(f"`max_time_s` must be > 0 or None, got {self.max_time_s}.")

    def n_threads(self) -> int:
        return self.threads if self.threads is not None else len(os.sched_getaffinity(0))


# `method` is an init-only argument (the generated `__init__` keeps its default `None`); read
# back, it is the optimiser's name, so `options.method == "trust_fim"` holds as before
FitOptions.method = property(lambda self: self.optimiser.name, doc="The optimiser's name in a config file.")
