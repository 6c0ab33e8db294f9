"""The one table renderer of `genbench-table`: status counts, mean ± std over seeds, number formats, Markdown and
CSV. The plain sweep table, the Dirac-GAN table and the paper tables all print through these, so a format is
changed in one place."""

from __future__ import annotations

import csv
import math
import statistics
from collections import Counter

Stats = tuple[float, float, int]  # (mean, sample std (0 for one value), number of finite values)


def count(n: int, noun: str) -> str:
    """"1 job", "2 jobs"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def status_counts(jobs: list[dict]) -> str:
    """"2 completed, 1 diverged": how many jobs ended in each state, states sorted by name."""
    counts = Counter(job["status"] for job in jobs)
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


def completed(jobs: list[dict]) -> list[dict]:
    """The jobs whose numbers count: failed, diverged or unfinished jobs are counted in the status only."""
    return [job for job in jobs if job["status"] == "completed"]


def mean_std(values: list) -> Stats | None:
    """Mean and sample std of the finite numbers in `values`; None when there are none."""
    values = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
              and math.isfinite(v)]
    if not values:
        return None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0, len(values)


def num(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def fmt_stats(cell: Stats | None, show_n: bool = False) -> str:
    """"22 ± 1.4" (with " (n=2)" when asked); one value prints without a spread; none prints "–"."""
    if cell is None:
        return "–"
    mean, std, n = cell
    text = f"{num(mean)} ± {num(std, 2)}" if n > 1 else num(mean)
    return f"{text} (n={n})" if show_n else text


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_csv(header: list[str], rows: list[list], out) -> None:
    """Full precision; None is an empty cell."""
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if cell is None else cell for cell in row])
