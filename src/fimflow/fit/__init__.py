"""Fitting: seeded Latin-hypercube starts, the optimisers (`TrustFIM()`: trust region on the
expected FIM, `LBFGSB()`, `TRF()`) driving many starts at once through one batched model
evaluation, and the multistart record (`MultistartResult`, each start's `Status`) with the best
fit (`BestFit`).

Imports: `fimflow.fisher` (the trust region's curvature), `fimflow.simulate`, `fimflow.problem`
and the foundation modules.
"""

from ._best import BestFit as BestFit
from ._best import best_fit as best_fit
from ._local import Status as Status
from ._multistart import MultistartResult as MultistartResult
from ._multistart import batch_kernel as batch_kernel
from ._multistart import check_fit_options as check_fit_options
from ._multistart import concatenate as concatenate
from ._multistart import fit_multistart as fit_multistart
from ._multistart import latin_hypercube_starts as latin_hypercube_starts
from ._optimisers import LBFGSB as LBFGSB
from ._optimisers import TRF as TRF
from ._optimisers import AbstractOptimiser as AbstractOptimiser
from ._optimisers import TrustFIM as TrustFIM
from ._optimisers import optimiser_from_name as optimiser_from_name
from ._options import FitOptions as FitOptions
from ._trust_region import all_finite as all_finite
from ._trust_region import minimize as trust_region_minimize
