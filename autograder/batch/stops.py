"""Why a batch stops, and what to do: the help texts printed under a
:class:`~autograder.job.contract.BatchStopped` (exit code 2). A batch stops when no student may
be graded on: the canary lost points (:data:`STOP_HELP`), the environment broke during the
batch (:data:`MIDWAY_HELP`, :data:`KERNEL_HELP`), the course gradebook is unreachable
(:data:`GRADEBOOK_HELP`), or the runner lost its grading machinery (its own text, e.g.
``autograder.cluster.client.CLUSTER_HELP``)."""

CAUSES = ("Common causes: the kernel cannot import the course package or a library (a venv of another checkout, "
          "a missing package), the Fashion-MNIST files are missing (make data), the wrong KERAS_BACKEND.")
STOP_HELP = ("The reference solution must get every autograded point in this grading environment; it did not, so "
             "every student would have been marked down for the environment's fault. No student was graded.\n"
             "Fix the environment and run the same command again (finished work is kept). " + CAUSES + "\n"
             "--no-canary skips this check (only if you know why the reference fails here).")
MIDWAY_HELP = ("A cell as released, which runs before any of the student's code, failed: the grading environment "
               "broke during the batch, and every later student would have been marked down for it. Grading "
               "stopped; the students graded before are kept.\nFix the environment and run the same command "
               "again: it resumes where it stopped. " + CAUSES)
KERNEL_HELP = ("A student's kernel did not start, before any of the student's code ran: the grading environment "
               "broke during the batch (or since the canary was cached), and every later student would have been "
               "marked down for it. Grading stopped; the students graded before are kept.\nFix the environment and "
               "run the same command again: it resumes where it stopped. Common causes: a kernel that cannot start "
               "(ipykernel missing or broken in the venv), too little memory under --mem-mb, no room in /run or "
               "the temporary folder.")
GRADEBOOK_HELP = ("Check that the database server is running and reachable with the URL above (--db, $COURSE_DB_URL "
                  "or CourseDirectory.db_url). Every job graded so far is kept in .results/: run the same command "
                  "again and it merges them without regrading.")
