"""What the similarity report costs for one assignment of a large class (prints figures; not a test).

    python -m benchmarks.similarity [--students 300] [--assignment 05_relu_and_feature_maps] [--planted 10]

The class is written where a grade run leaves it (``OUT/grades.json`` and
``OUT/autograded/<student>/<aid>/<aid>.ipynb``, by testbed/similarity_batch.py); nothing is
executed. Each answer cell of the assignment has a few correct answers: the reference
solution and the correct candidates of testbed/candidates.py (loops, vectorised,
einsum...), 3 or 4 per function. Student *i* takes combination number 173·*i* modulo their
count (4 × 4 × 4 × 3 × 3 = 576 for lesson 05's compared cells): all 290 honest students differ,
but many share one cell's text, as if they had handed in the same approach letter for letter
(so their scores say little; the pairs that took a different answer in every cell are
reported apart as the independent ones), and the
last ``--planted`` students are planted copies of the first ones (variables renamed,
functions reordered, comments and whitespace changed, a print added). Prints the time to
read and fingerprint the notebooks, to compare every pair, and to write the pages; the
peak memory; and how the planted pairs and the others scored.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from autograder.reporting import similarity
from testbed import similarity_batch as batch  # the tests' batch builder (maintainers run this from the checkout)

STRIDE = 173  # a prime: consecutive students take combinations spread over all of them


def make_class(out: Path, aid: str, students: int, planted: int) -> tuple[set, set]:
    """Write the class; return the planted pairs (original, copy) and the independent pairs:
    honest students who took a different answer in every compared cell."""
    released = batch.released_answers(aid)
    reference = batch.reference_answers(aid)
    compared = similarity.load_release(aid).cells  # value cells are not compared: the reference's answer there
    choices = {gid: [reference[gid], *batch.candidates(aid).get(gid, [])] if gid in compared else [reference[gid]]
               for gid in released}
    combinations = 1
    for options in choices.values():
        combinations *= len(options)
    honest = students - planted
    names = [f"s{i:03d}" for i in range(students)]
    answers, picked = {}, {}
    for i in range(honest):
        n, mine, picks = (i * STRIDE) % combinations, {}, []
        for gid, options in choices.items():
            mine[gid] = options[n % len(options)]
            picks.append(n % len(options) if len(options) > 1 else None)
            n //= len(options)
        answers[names[i]], picked[names[i]] = mine, picks
    pairs = set()
    for j in range(planted):
        original, copy = names[j], names[honest + j]
        answers[copy] = batch.copy_of(answers[original])
        pairs.add((original, copy))
    batch.write_batch(out, aid, answers)
    independent = {(a, b) for a in picked for b in picked
                   if a < b and all(x != y for x, y in zip(picked[a], picked[b]) if x is not None)}
    return pairs, independent


def _now() -> tuple[float, float]:
    """(wall, CPU) seconds: the CPU time says more than the wall time on a shared machine."""
    return time.perf_counter(), time.process_time()


def _span(a: tuple[float, float], b: tuple[float, float]) -> str:
    return f"{b[0] - a[0]:6.1f}  {b[1] - a[1]:6.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--assignment", default="05_relu_and_feature_maps")
    parser.add_argument("--planted", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        start = _now()
        planted, independent = make_class(out, args.assignment, args.students, args.planted)
        made = _now()
        release = similarity.load_release(args.assignment)
        answers = similarity.load_answers(out, args.assignment, [f"s{i:03d}" for i in range(args.students)], release)
        read = _now()
        pairs = similarity.compare_assignment(args.assignment, answers, release)
        compared = _now()
        page = similarity.write_similarity(out)
        written = _now()
        listed = sum(1 for _ in page.parent.rglob("*.html")) - 1
        size = sum(p.stat().st_size for p in page.parent.rglob("*.html"))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ranked = [(p.a, p.b) for p in pairs]
    plant_scores = [p.score for p in pairs if (p.a, p.b) in planted]
    other = [p.score for p in pairs if (p.a, p.b) not in planted]
    apart = [p.score for p in pairs if (p.a, p.b) in independent]
    worst_plant = max(ranked.index(pair) for pair in planted) + 1 if planted else 0
    print(f"Similarity report, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"{platform.node() or 'this machine'}: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
          f"Python {platform.python_version()}")
    print(f"{args.assignment}: {args.students} students ({args.planted} planted copies), "
          f"{len(release.cells)} answer cells compared ({', '.join(release.cells)}), {len(pairs)} pairs")
    print(f"  {'step':43s} wall s   CPU s")
    print(f"  {'writing the class (not part of the report)':43s}{_span(start, made)}")
    print(f"  {f'read + fingerprint {len(answers)} notebooks':43s}{_span(made, read)}")
    print(f"  {'compare every pair':43s}{_span(read, compared)} "
          f"({1e6 * (compared[1] - read[1]) / max(len(pairs), 1):.0f} CPU µs a pair)")
    print(f"  {'the whole command (read, compare, write)':43s}{_span(compared, written)}; {listed} pair pages, "
          f"{size / 1e6:.1f} MB")
    print(f"  {'peak memory (this process)':43s}{rss:6.0f} MiB")
    print(f"planted pairs: scores {min(plant_scores):.2f}–{max(plant_scores):.2f}, the last ranked {worst_plant}; "
          f"other pairs: median {statistics.median(other):.2f}, 99th percentile "
          f"{sorted(other)[int(0.99 * len(other))]:.2f}, max {max(other):.2f}; "
          f"flagged {sum(p.flagged for p in pairs)} ({sum(p.flagged for p in pairs if (p.a, p.b) in planted)} planted)")
    print(f"independent pairs (a different answer in every compared cell): {len(apart)}, max score "
          f"{max(apart, default=0):.2f}, flagged {sum(p.flagged for p in pairs if (p.a, p.b) in independent)}; "
          "the other "
          "pairs share the text of at least one cell by construction (same choice), so their scores say little")
    return 0


if __name__ == "__main__":
    sys.exit(main())
