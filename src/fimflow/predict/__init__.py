"""Prediction uncertainty: the delta method with each FIM eigen-direction's share, prediction
profile likelihoods, and ensembles of profile points; the three compared.

Imports: `fimflow.identify`, `fimflow.fit`, `fimflow.simulate`, `fimflow.problem` and the
foundation modules.
"""

from ._delta import PredictionSpec as PredictionSpec
from ._delta import check_prediction as check_prediction
from ._delta import compare_bands as compare_bands
from ._delta import default_predictions as default_predictions
from ._delta import delta_method as delta_method
from ._delta import prediction_and_gradient as prediction_and_gradient
from ._delta import prediction_bands as prediction_bands
from ._delta import spread_times as spread_times
from ._ensemble import ensemble_bands as ensemble_bands
from ._ensemble import ensemble_from_profiles as ensemble_from_profiles
from ._prediction_profile import PredictionProfile as PredictionProfile
from ._prediction_profile import PredictionProfileOptions as PredictionProfileOptions
from ._prediction_profile import prediction_profile as prediction_profile
from ._prediction_profile import prediction_profile_bands as prediction_profile_bands
