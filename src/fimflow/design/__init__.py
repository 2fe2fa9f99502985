"""Optimal experimental design: D-, A- and E-optimal sampling times from a candidate grid, and
candidate experiments (doses, dosing times) ranked, by the expected FIM at the best fit.

Imports: `fimflow.simulate`, `fimflow.problem` and the foundation modules.
"""

from ._criteria import design_criterion as design_criterion
from ._experiments import check_experiment_settings as check_experiment_settings
from ._experiments import experiment_fims as experiment_fims
from ._experiments import rank_experiments as rank_experiments
from ._criteria import sensitivity_curves as sensitivity_curves
from ._sampling_times import DesignOptions as DesignOptions
from ._sampling_times import DesignResult as DesignResult
from ._sampling_times import optimal_design as optimal_design
