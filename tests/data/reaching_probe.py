from ..fit._trust_region import minimize
from ..fit import FitOptions
from ._eigen import x
