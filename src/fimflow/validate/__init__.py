"""Validation: is the reported uncertainty true? A parametric bootstrap (data simulated at the fit
with the problem's noise model and design, each refitted) checks the Cramér–Rao bound (variance
ratios, the covariance's generalized eigenvalues, identifiable combinations where the FIM is
singular), the coverage of Wald, profile and delta-method intervals, the two faces of the FIM
(score outer product, observed FIM) and whether a design delivers the information it promised;
the KL divergence between data distributions (closed form, Monte-Carlo) checks the FIM's
quadratic picture $\\tfrac12\\delta^\\top I \\delta$ along each direction.

Imports: `fimflow.predict`, `fimflow.identify`, `fimflow.fit`, `fimflow.fisher`,
`fimflow.simulate`, `fimflow.problem` and the foundation modules.
"""

from ._design_check import delivered_information as delivered_information
from ._design_check import realized_vs_predicted as realized_vs_predicted
from ._faces import two_faces as two_faces
from ._kl import KL_RADII as KL_RADII
from ._kl import kl_along_directions as kl_along_directions
from ._kl import kl_divergence as kl_divergence
from ._kl import kl_terms as kl_terms
from ._kl import monte_carlo_kl as monte_carlo_kl
from ._refit import RefitOptions as RefitOptions
from ._refit import ValidationOptions as ValidationOptions
from ._refit import refit_datasets as refit_datasets
from ._refit import simulate_datasets as simulate_datasets
from ._spread import coverage_interval as coverage_interval
from ._spread import generalized_eigenvalues as generalized_eigenvalues
from ._spread import identifiable_combinations as identifiable_combinations
from ._spread import per_parameter as per_parameter
from ._spread import variance_ratio_interval as variance_ratio_interval
from ._study import ValidationResult as ValidationResult
from ._study import validate_study as validate_study
