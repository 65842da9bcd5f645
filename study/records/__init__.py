"""Records: what a run holds and which of it counts.

The trial row and its fields (``rows``), the append-only JSONL store and its resume keys
(``store``), the one rule that decides which rows count (``selection``), the leaderboard as a
pure function of rows (``leaderboard``), the derived files of a run folder (``tables``) and
reading a run folder back (``run_folder``).
"""
