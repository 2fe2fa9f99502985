"""The problem: the one object every stage takes (`Problem`, its `ParameterTable` and scales),
the model protocol for Python/JAX models, the PEtab-style tables and the Python-model importer,
and the re-sampling of a problem at other times (designs).

Imports: only the foundation modules of `fimflow` (`_errors`, `_columns`, `_precision`, ...);
never another stage.
"""

from ._model import AbstractODEModel as AbstractODEModel
from ._problem import ParameterTable as ParameterTable
from ._problem import Problem as Problem
from ._problem import from_scale as from_scale
from ._problem import to_scale as to_scale
from ._python_model import is_petab_yaml as is_petab_yaml
from ._python_model import load_python_problem as load_python_problem
from ._python_model import read_problem_file as read_problem_file
from ._sampling import dense_design as dense_design
from ._sampling import measured_pairs as measured_pairs
from ._sampling import with_design as with_design
from ._scales import Scale as Scale

# for the importers and later stages (not re-exported by `fimflow`)
from ._measurements import MeasurementRows as MeasurementRows
from ._measurements import build_problem as build_problem
from ._measurements import check_time as check_time
from ._measurements import require_rows as require_rows
from ._model import import_model as import_model
from ._priors import prior_nll as prior_nll
from ._priors import V2_PRIOR_CODES as V2_PRIOR_CODES
from ._priors import truncation_log_mass as truncation_log_mass
from ._priors import read_priors as read_priors
from ._problem import DISTRIBUTION_CODES as DISTRIBUTION_CODES
from ._problem import TRANSFORMATION_CODES as TRANSFORMATION_CODES
from ._problem import time_grid as time_grid
from ._sampling import DESIGN_COLUMNS as DESIGN_COLUMNS
from ._scales import from_linear_by_code as from_linear_by_code
from ._scales import scale_codes as scale_codes
from ._scales import to_linear_by_code as to_linear_by_code
from ._tables import check_unique as check_unique
from ._tables import read_parameter_table as read_parameter_table
from ._tables import read_tsv as read_tsv
from ._tables import require_columns as require_columns
