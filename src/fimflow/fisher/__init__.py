"""Fisher information on the estimation scale: expected (sensitivities and the noise block) and
observed (the Hessian of the negative log-likelihood), side by side (`FisherResult`).

Imports: `fimflow.simulate`, `fimflow.problem` and the foundation modules.
"""

from ._fisher import FisherResult as FisherResult
from ._fisher import expected_fisher_information as expected_fisher_information
from ._fisher import fisher_from_sensitivities as fisher_from_sensitivities
from ._fisher import fisher_information as fisher_information
from ._fisher import observed_fisher_information as observed_fisher_information
