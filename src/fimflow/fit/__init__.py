"""Fitting: seeded Latin-hypercube starts, the optimisers (trust region on the expected FIM,
L-BFGS-B, TRF) driving many starts at once through one batched model evaluation, and the
multistart record (`MultistartResult`) with the best fit (`BestFit`).

Imports: `fimflow.fisher` (the trust region's curvature), `fimflow.simulate`, `fimflow.problem`
and the foundation modules.
"""

from ._multistart import FitOptions as FitOptions
from ._multistart import MultistartResult as MultistartResult
from ._multistart import batch_kernel as batch_kernel
from ._multistart import best_fit_summary as best_fit_summary
from ._multistart import check_fit_options as check_fit_options
from ._multistart import concatenate as concatenate
from ._multistart import fit_multistart as fit_multistart
from ._multistart import latin_hypercube_starts as latin_hypercube_starts
