"""Command-line entry points: genbench, genbench-eval, genbench-table."""
