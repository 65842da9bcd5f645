"""Generated tables inside hand-written markdown: ``<!-- table:NAME -->`` ... ``<!-- /table -->``.

A page keeps its prose, and the blocks between the markers are replaced by tables a command
computes (the report's tables in a post, the tuning status in a tuning folder's README), so a
number in a table is never typed by hand.
"""
from __future__ import annotations

import re

# a block's body may be empty, and never runs past its own closing marker
TABLE = re.compile(r"(<!-- table:(?P<name>[\w-]+) -->\n)(?:(?!<!-- /table -->).)*?(<!-- /table -->)", re.S)


def refresh_tables(text: str, tables: dict[str, str]) -> str:
    """Replace the body between ``<!-- table:NAME -->`` and ``<!-- /table -->`` markers with
    ``tables[NAME]``; a block whose name is not in ``tables`` is left as it is."""
    def swap(match: re.Match) -> str:
        name = match.group("name")
        if name not in tables:
            return match.group(0)
        return match.group(1) + tables[name].rstrip("\n") + "\n" + match.group(3)

    return TABLE.sub(swap, text)


def table_names(text: str) -> list[str]:
    """The names of the table blocks a page holds, in order."""
    return [match.group("name") for match in TABLE.finditer(text)]
