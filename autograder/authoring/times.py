"""How long a lesson takes a beginner, computed the same way for every lesson.

    python -m autograder.authoring.times           # the table, lesson by lesson
    python -m autograder.authoring.times --write   # and state it in solutions/ (then make release)

A lesson's time is its reading (the words of its markdown cells at :data:`WORDS_PER_MINUTE`),
plus :data:`MINUTES_PER_EXERCISE` for each graded exercise (autograded or written; optional
ones are extra), plus its training in full mode on a 2-core CPU (:data:`TRAINING_MINUTES`,
measured by ``benchmarks/training.py``), rounded up to 5 minutes. Each lesson's title cell
states it (``**Time:** about N minutes: …``); tests/course/test_course_text.py holds them equal.
"""

from __future__ import annotations

import math
import re

from autograder.notebook import meta

WORDS_PER_MINUTE = 150
MINUTES_PER_EXERCISE = 10
#: Full-mode training on the 2-core course machine, rounded up to a minute, from the seconds per epoch
#: that benchmarks/training.py measures: lesson 07's dense model 10 epochs × about 2 s, its CNN
#: 10 × 18.5 s and its improved CNN 8 × about 13 s (309 s); lesson 08's LeNet 10 × about 5.5 s in
#: batches of 64 (55 s). Before the faster recipes (2026-12-06) lesson 07 trained 15 minutes, 08 6.
TRAINING_MINUTES = {"07_fashion_mnist_cnn": 6, "08_lenet": 1}
TIME_LINE = re.compile(r"^\*\*Time:\*\*[^\n]*$", re.M)


def parts(nb, aid: str) -> dict[str, int]:
    """Minutes of reading, exercises and training, and their total rounded up to 5."""
    words = sum(len(c.source.split()) for c in nb.cells if c.cell_type == "markdown")
    reading = math.ceil(words / WORDS_PER_MINUTE)
    graded = sum(1 for c in nb.cells if meta(c).get("grade") and meta(c).get("points"))
    exercises = graded * MINUTES_PER_EXERCISE
    training = TRAINING_MINUTES.get(aid, 0)
    total = 5 * math.ceil((reading + exercises + training) / 5)
    return {"total": total, "reading": reading, "graded": graded, "exercises": exercises, "training": training}


def time_line(p: dict[str, int]) -> str:
    """The title cell's line that states the time."""
    line = (f"**Time:** about {p['total']} minutes: {p['reading']} of reading, {p['exercises']} for the "
            f"{p['graded']} graded exercises (10 each)")
    if p["training"]:
        line += f", {p['training']} of training in full mode on two CPU cores (a minute or two in fast mode)"
    return line + "."


def write(aid: str) -> None:
    """State the lesson's time in its solutions notebook's title cell (its own words count too)."""
    import nbformat

    from autograder import course
    from autograder.authoring.release import release

    path = course.SOLUTIONS / aid / f"{aid}.ipynb"
    nb = nbformat.read(path, as_version=4)
    released = nbformat.read(release(aids=[aid])[0], as_version=4)
    for _ in range(3):  # the time line's own words are read too: settle
        released.cells[0].source = nb.cells[0].source
        line = time_line(parts(released, aid))
        nb.cells[0].source = TIME_LINE.sub(line, nb.cells[0].source, count=1)
    nbformat.write(nb, path)
    release(aids=[aid])


def main(argv: list[str] | None = None) -> int:
    import sys

    import nbformat

    from autograder import course

    argv = sys.argv[1:] if argv is None else argv
    total = 0
    for aid in course.assignments():
        if "--write" in argv:
            write(aid)
        p = parts(nbformat.read(course.LESSONS / aid / f"{aid}.ipynb", as_version=4), aid)
        total += p["total"]
        print(f"{aid:<28} {p['total']:>3} min  (reading {p['reading']}, {p['graded']} exercises "
              f"{p['exercises']}, training {p['training']})")
    print(f"{'all lessons':<28} {total:>3} min  ({total / 60:.1f} h)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
