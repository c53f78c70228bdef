"""The sandbox a student's kernel runs in: the kernel manager that starts it (``kernel``) and
the inside of the jail (``jail``)."""
