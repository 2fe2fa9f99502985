"""Figures: one function per figure, each writing one PNG atomically (matplotlib, Agg).

Imports: only `fimflow._atomic`; figures take tables and arrays, never a `Problem` or a solver.
"""

from ._design import design as design
from ._design import experiment_ranking as experiment_ranking
from ._figures import contributions as contributions
from ._figures import eigenvectors as eigenvectors
from ._figures import fim_spectrum as fim_spectrum
from ._figures import fit_vs_data as fit_vs_data
from ._figures import prediction_bands as prediction_bands
from ._figures import series_styles as series_styles
from ._figures import waterfall as waterfall
from ._profiles import prediction_comparison as prediction_comparison
from ._profiles import profiles as profiles
from ._validation import validation_coverage as validation_coverage
from ._validation import validation_kl as validation_kl
from ._validation import validation_pairs as validation_pairs
