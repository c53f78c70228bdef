"""nbgrader preprocessors the course adds."""

from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"


class HideHiddenTestErrors(Preprocessor):
    """In feedback, cut the traceback of a test cell that holds hidden tests down to its
    last line (``AssertionError: message``).

    ClearHiddenTests removes the hidden tests' code from the cell, but an IPython
    traceback quotes the failing lines, so it would still show them. The student keeps
    the error's name and message, which the course writes to teach, not to leak.
    """

    # nbconvert registers preprocessors disabled unless told otherwise; nbgrader's own are on.
    enabled = Bool(True).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and HIDDEN_BEGIN in cell.source:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [
                        f"{output.get('ename', 'Error')}: {output.get('evalue', '')}",
                        "(a test of this cell failed; its code is not shown in feedback)",
                    ]
        return cell, resources
