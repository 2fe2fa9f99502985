"""Identifiability: the FIM's eigen-analysis and per-parameter verdicts, profile likelihoods with
their verdicts, numerical structural identifiability, and the sloppiness spectrum.

Imports: `fimflow.fit` (profiles re-optimise), `fimflow.simulate`, `fimflow.problem` and the
foundation modules.
"""

from ._eigen import EigenAnalysis as EigenAnalysis
from ._eigen import eigen_analysis as eigen_analysis
from ._eigen import parameter_verdicts as parameter_verdicts
from ._eigen import participating as participating
from ._identifiability import Identifiability as Identifiability
from ._identifiability import Sloppiness as Sloppiness
from ._identifiability import identifiability as identifiability
from ._identifiability import sloppiness as sloppiness
from ._profile import ProfileOptions as ProfileOptions
from ._profile import ProfileResult as ProfileResult
from ._profile import profile_parameter as profile_parameter
from ._profile import profile_threshold as profile_threshold
from ._profile import summarise_profile as summarise_profile
from ._profile_verdict import ProfileEnd as ProfileEnd
from ._profile_verdict import profile_summary as profile_summary
from ._sloppiness import SloppinessSpectrum as SloppinessSpectrum
from ._sloppiness import sloppiness_spectrum as sloppiness_spectrum
from ._structural import StructuralOptions as StructuralOptions
from ._structural import StructuralResult as StructuralResult
from ._structural import structural_identifiability as structural_identifiability
from ._structural import structural_tables as structural_tables
