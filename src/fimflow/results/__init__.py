"""The results tree's files: one reader/writer pair per artifact, every write atomic, JSON with a
format tag and the fimflow version, tables as TSV with a header (PEtab vocabulary).

Imports: every stage (it writes their records); nothing imports it but the facade and scripts.
"""

from ._artifacts import read_best_fit as read_best_fit
from ._artifacts import read_design as read_design
from ._artifacts import read_fisher_matrix as read_fisher_matrix
from ._artifacts import read_problem_summary as read_problem_summary
from ._artifacts import read_tables as read_tables
from ._artifacts import write_best_fit as write_best_fit
from ._artifacts import write_design as write_design
from ._artifacts import write_experiment_ranking as write_experiment_ranking
from ._artifacts import write_fisher as write_fisher
from ._artifacts import write_identifiability as write_identifiability
from ._artifacts import write_problem_summary as write_problem_summary
from ._artifacts import write_sloppiness as write_sloppiness
from ._artifacts import write_validation as write_validation
from ._artifacts import read_validation_summary as read_validation_summary
from ._files import read_json as read_json
from ._files import read_matrix as read_matrix
from ._files import read_multistart as read_multistart
from ._files import read_profile as read_profile
from ._files import read_table as read_table
from ._files import write_fit_provenance as write_fit_provenance
from ._files import write_json as write_json
from ._files import write_matrix as write_matrix
from ._files import write_multistart as write_multistart
from ._files import write_profile as write_profile
from ._files import write_table as write_table
from ._problem_summary import problem_summary as problem_summary
