"""`load_problem`: one entry for every kind of problem file (the importer is chosen by the file)."""

from .problem import Problem, is_petab_yaml, load_python_problem


def load_problem(path, *, problem_id: str | None = None) -> Problem:
    """Load and check a problem: a PEtab v1 yaml (see `fimflow.load_petab`) or a Python-model
    problem described by a `problem.yaml` (`format: fimflow-python-1`, see
    `fimflow.problem.load_python_problem`).

    **Raises:** `ProblemFileError` naming file, row and column for any inconsistency,
    `ModelDefinitionError` when the model cannot be imported.
    """
    if is_petab_yaml(path):
        from .petab import load_petab  # imported when needed: `petab` takes seconds to import

        return load_petab(path, problem_id=problem_id)
    return load_python_problem(path, problem_id=problem_id)
