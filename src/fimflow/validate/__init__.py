"""Validation: is the reported uncertainty true? For now the KL divergence between the data
distributions of two parameter vectors (closed form and Monte-Carlo), against which the FIM's
quadratic picture $\\tfrac12\\delta^\\top I \\delta$ is checked.

Imports: `fimflow.simulate`, `fimflow.problem` and the foundation modules.
"""

from ._kl import KL_RADII as KL_RADII
from ._kl import kl_along_directions as kl_along_directions
from ._kl import kl_divergence as kl_divergence
from ._kl import kl_terms as kl_terms
from ._kl import monte_carlo_kl as monte_carlo_kl
