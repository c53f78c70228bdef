"""The grading batch, the parent process: the students' submissions read and screened
(``intake``, ``screen``), the canary first (``canary``), each job handed to a runner
(:mod:`autograder.job`) and its row kept (``results``), merged into the course gradebook
(``recorder``), and grades.csv/json written (``grade``). Its settings: ``options``."""
