"""Tables that survive a log: every row on one line, long cells clipped with an ellipsis.

Rich shrinks a table wider than the console by narrowing its wrappable columns (the widest first) and then
wraps their cells onto more lines; piped to a file at 100 columns, one attempt became up to 9 lines.
`one_line` keeps the shrinking and drops the wrapping: the table's text columns stay shrinkable, and each
of their `Text` cells is set to one line, clipped with `…`. Columns of short values (numbers, statuses)
are made with `no_wrap=True` so they keep their full width. The full text is always elsewhere
(summary.json, sweep.json, compare.json, `agentbench show`).

Pure: rich objects in, the same objects out; no I/O.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

LOG_WIDTH = 100
"""The console width when the output is not a terminal and $COLUMNS is unset (cli_common)."""


def one_line(table: Table) -> Table:
    """`table` with every `Text` cell and header on one line (`no_wrap`, overflow `ellipsis`): a cell too long
    for its column ends with `…`. Cells given as `str` follow their column's settings."""
    for column in table.columns:
        if isinstance(column.header, str):
            column.header = Text(column.header)
        for cell in (column.header, *column.cells):
            if isinstance(cell, Text):
                cell.no_wrap = True
                cell.overflow = "ellipsis"
    return table


def clipped(value: object) -> Text:
    """A plain (never markup) one-line cell: `Text(str(value))` (`–` for None), clipped with `…`."""
    return Text("–" if value is None else str(value), no_wrap=True, overflow="ellipsis")
