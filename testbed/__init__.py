"""What the tests and the maintainers' benchmarks share, so that a benchmark never imports the
test suite.

- Real servers, started on loopback and stopped by PID: a throwaway PostgreSQL (``pgserver``),
  a Dask cluster with TLS (``daskcluster``) and a JupyterHub class with real accounts
  (``hubclass``, with the answered lesson its students hand in). Never a mock.
- Students without a grade run: the candidate answers to lessons 02–05, right and wrong
  (``candidates``), and batches of students built from them for the similarity report
  (``similarity_batch``).

Not part of the course's package: pytest finds it through ``pythonpath`` (pyproject.toml),
the benchmarks run from the repository's root. It imports the course's packages, never tests/."""
