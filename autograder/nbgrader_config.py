"""nbgrader configuration for the course. Run nbgrader's own commands from this folder:

    cd autograder
    nbgrader generate_assignment 01_pixels --force   # solutions/ -> lessons/
    nbgrader autograde 01_pixels                      # submitted/<student>/01_pixels/
    nbgrader generate_feedback 01_pixels              # feedback/, hidden tests cleared
    nbgrader export                                   # grades.csv

The course root is this folder: the gradebook (gradebook.db) and the working folders
submitted/, autograded/ and feedback/ live here and are git-ignored. The source and
release folders are the repository's solutions/ and lessons/.
``python -m autograder`` (and the Makefile) use the same settings.
"""

import os

from autograder import settings

c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)

HERE = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = settings.COURSE_ID
# The course folder: autograded/, feedback/ and, by default, the gradebook (gradebook.db).
# $COURSE_DIR moves it (a hub keeps it outside the repository); by default, the folder of this
# file (the package's folder, or a copy of it that an instructor runs nbgrader in). nbgrader's own
# commands read this file alone, so it reads the environment (autograder/settings.py).
c.CourseDirectory.root = str(settings.resolve(None, settings.COURSE_DIR_ENV, None, HERE))
c.CourseDirectory.source_directory = os.path.join(HERE, "..", "solutions")
c.CourseDirectory.release_directory = os.path.join(HERE, "..", "lessons")
# The course gradebook: any SQLAlchemy URL, e.g. postgresql+psycopg://grader@db.example.org/pixels
# (see the README). Without $COURSE_DB_URL, nbgrader's default: gradebook.db in the course folder.
if settings.environ(settings.DB_URL_ENV):
    c.CourseDirectory.db_url = settings.environ(settings.DB_URL_ENV)
# Only the notebook itself is an assignment file; never copy caches or checkpoints.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".DS_Store"]

# Training cells legitimately run for minutes; nbgrader's 30 s default would kill them
# and can drop a whole submission. 600 s per cell is generous even in full mode.
c.Execute.timeout = 600
c.Execute.interrupt_on_timeout = True

# Feedback must never show hidden tests: neither their code, nor their tracebacks, nor
# an output line that quotes them (student code can read the test calling it and print
# it later). HideHiddenTestLines needs the hidden code, so it runs before ClearHiddenTests.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.job.preprocessors.HideHiddenTestErrors",
    "autograder.job.preprocessors.HideHiddenTestLines",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "nbgrader.preprocessors.ClearHiddenTests",
]

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
