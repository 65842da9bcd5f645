"""Records: what a run holds and which of it counts.

The trial row, its fields and its one constructor (``rows``), the hashes that identify a
trial (``keys``), everything that keeps rows, keys and tuned configurations of earlier
versions readable (``migration``), the append-only JSONL store (``store``) and the arrays its
rows share, kept once per run folder (``shared``), tuned
configurations read back for a run (``tuned_configs``), the one rule that decides which rows
count (``selection``), the leaderboard as a pure function of rows (``leaderboard``), the
derived files of a run folder (``tables``) and reading a run folder back (``run_folder``).
"""
