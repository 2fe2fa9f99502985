"""Error classes: every bad input is one of these, with a message naming file, row/key and fix."""


class FimflowInputError(ValueError):
    """Base class for bad input (config, tables, models)."""


class ProblemFileError(FimflowInputError):
    """A problem file (yaml or TSV table) is malformed or inconsistent.

    The message names the file, the row (1-based, header = row 1) or column, and the fix.
    """

    def __init__(self, path, message: str, *, row: int | None = None, column: str | None = None):
        where = str(path)
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column `{column}`"
        self.path = str(path)
        self.row = row
        self.column = column
        super().__init__(f"{where}: {message}")


class ModelDefinitionError(FimflowInputError):
    """A Python model does not satisfy the model protocol."""
