"""Core: what every layer shares and nothing here knows about C-MAPSS or models.

Errors a user can fix (one paragraph, exit 2 or 1), whole-file atomic writes, the one-writer
folder lock, facts about the machine and packages, the command-line plumbing (shared
option groups, one error path), and generated tables inside hand-written markdown. The lowest layer: it imports no other part of ``study``.
"""
