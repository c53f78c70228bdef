"""Grading past one machine, on Dask distributed: the course's TLS certificates (``certs``),
thin wrappers over ``dask scheduler`` and ``dask worker`` with the course's settings
(``commands``), what a worker does with a job (``station``) and the instructor's side
(``client``)."""
