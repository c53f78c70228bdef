"""Real servers that the tests and the maintainers' benchmarks start themselves, on loopback,
and stop by PID: a throwaway PostgreSQL (``pgserver``), a Dask cluster with TLS
(``daskcluster``) and a JupyterHub class with real accounts (``hubclass``). Never a mock.

Not part of the course's package: pytest finds it through ``pythonpath`` (pyproject.toml),
the benchmarks run from the repository's root."""
