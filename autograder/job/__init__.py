"""One grading job, the worker's side: what a job and its result are (``contract``), where it
is graded (``runners``, ``slots``), the process that grades it (``worker``), the hardened
execute step (``execute``), what runs inside the student's kernel (``guard``, ``plain``),
the feedback page (``preprocessors``, ``feedback``) and private scratch folders (``scratch``).
Nothing here imports :mod:`autograder.batch`."""
