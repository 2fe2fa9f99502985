"""PEtab import: a PEtab problem (yaml + SBML + TSV tables) as a `Problem`; SBML math read with
libsbml into sympy and evaluated with JAX (no code generation); PEtab's checks with the named
file, row and column.

Imports: `fimflow.problem` and the foundation modules; never a later stage.
"""

from ._import import load_petab as load_petab
from ._import import petab_files as petab_files
