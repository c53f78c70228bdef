"""Maintainers' benchmarks: scripts that print measured numbers (never run as tests).

    python -m benchmarks.training     # how fast this machine trains the course's models
    python -m benchmarks.throughput   # grading throughput, with and without the sandbox
"""
