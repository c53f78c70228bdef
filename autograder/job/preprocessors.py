"""nbgrader preprocessors the course adds, and the helpers that find hidden-test lines in text.

Hidden tests must never reach a student's feedback. nbgrader's ClearHiddenTests removes
them from the cells' code; the execute step (:mod:`autograder.job.execute`) keeps what runs
during hidden tests out of the cells' outputs. What is left is student code quoting a
hidden test later (a line it read while the hidden tests ran, printed by a later cell):
:class:`HideHiddenTestLines` drops every output line that quotes one.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from autograder.notebook import BEGIN_WORDS, END_WORDS, HIDDEN_BEGIN  # noqa: F401  (HIDDEN_BEGIN: also read from here)

MIN_KEY = 8  # characters (whitespace removed) a hidden line needs to be looked for
NOTICE = "[removed from feedback: it quoted a hidden test]\n"

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")
_TAG = re.compile(r"<[^>]*>")


def squash(text: str, markup: bool = False) -> str:
    """Text as compared with hidden lines: no ANSI codes, no whitespace, no invisible
    characters, case-folded (and, for HTML/SVG/Markdown, no tags or entities)."""
    text = _ANSI.sub("", text)
    if markup:
        text = html.unescape(_TAG.sub("", text))
    return "".join(ch for ch in text if not ch.isspace() and unicodedata.category(ch) != "Cf").casefold()


def hidden_keys(nb) -> set[str]:
    """The squashed lines of the notebook's hidden tests that nothing outside them also
    has (markdown, visible tests, teaching cells): those the feedback must not show."""
    hidden, public = set(), set()
    for cell in nb.cells:
        inside = False
        for line in cell.source.splitlines():
            if cell.cell_type == "code" and BEGIN_WORDS in line:
                inside = True
            elif cell.cell_type == "code" and END_WORDS in line:
                inside = False
            else:
                (hidden if inside else public).add(squash(line))
    return {key for key in hidden - public if len(key) >= MIN_KEY}


def quotes(text: str, keys, markup: bool = False) -> bool:
    squashed = squash(text, markup)
    return any(key in squashed for key in keys)


def scrub(text: str, keys) -> str:
    """``text`` without the lines that quote a hidden test, and a notice where any were
    dropped; nothing but the notice if a quote spans lines."""
    if not keys or not quotes(text, keys):
        return text
    kept = "".join(ln for ln in text.splitlines(keepends=True) if not quotes(ln, keys))
    if quotes(kept, keys):
        kept = ""
    if kept and not kept.endswith("\n"):
        kept += "\n"
    return kept + NOTICE


def _mime_text(value) -> str:
    if isinstance(value, list):
        return "".join(map(str, value))
    return value if isinstance(value, str) else json.dumps(value)


def scrub_output(output, keys) -> bool:
    """Drop, in place, whatever part of one output quotes a hidden test. True if it did."""
    if not keys:
        return False
    changed = False
    kind = output.get("output_type")
    if kind == "stream":
        text = _mime_text(output.get("text", ""))
        new = scrub(text, keys)
        if new != text:
            output["text"], changed = new, True
    elif kind == "error":
        for field in ("ename", "evalue"):
            value = str(output.get(field, ""))
            if quotes(value, keys):
                output[field], changed = ("Error" if field == "ename" else NOTICE.strip()), True
        lines = [str(ln) for ln in output.get("traceback", [])]
        kept = [ln for ln in lines if not quotes(ln, keys)]
        if kept != lines or quotes("\n".join(kept), keys):
            if quotes("\n".join(kept), keys):  # a quote spread over lines
                kept = []
            output["traceback"], changed = kept + [NOTICE.strip()], True
    elif kind in ("display_data", "execute_result"):
        data = output.get("data", {})
        for mime in list(data):
            if mime.startswith("image/") and mime != "image/svg+xml":
                continue
            text = _mime_text(data[mime])
            if mime == "text/plain":
                new = scrub(text, keys)
                if new != text:
                    data[mime], changed = new, True
            elif quotes(text, keys, markup=True):
                del data[mime]
                changed = True
        if changed and "text/plain" not in data:
            data["text/plain"] = NOTICE
    if "metadata" in output and quotes(json.dumps(output["metadata"], default=str), keys, markup=True):
        output["metadata"], changed = {}, True
    return changed


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


class HideHiddenTestLines(Preprocessor):
    """In feedback, drop every output line, in any cell, that quotes a hidden test line
    (one the released notebook does not also show), and the grader's record of what
    the hidden tests printed.

    The execute step already keeps what runs during hidden tests out of the outputs.
    This is the second wall: student code can read a hidden test while it runs (IPython's
    history, the caller's frame, the code objects) and print it from a later cell.
    Must run before ClearHiddenTests, which removes the hidden lines it looks for.
    """

    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        keys = hidden_keys(nb)
        for cell in nb.cells:
            cell.get("metadata", {}).get("autograder", {}).pop("hidden_outputs", None)
            for output in cell.get("outputs", []):
                scrub_output(output, keys)
        widgets = nb.metadata.get("widgets")
        if widgets is not None and quotes(json.dumps(widgets, default=str), keys, markup=True):
            del nb.metadata["widgets"]
        return nb, resources
