"""Terminal tables that fit the terminal: one compact style, ids cut in the middle only when they must be, and
`--wide` printing a table at its full width (nothing cut, nothing folded) whatever the terminal's width.
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

ELLIPSIS = "…"


def compact_table(title: str | None = None, caption: str | None = None) -> Table:
    """A table with a rule under the header and no vertical lines: two spaces between columns. It is at least as wide
    as its title (as the terminal allows), so a narrow table does not fold a long title."""
    return Table(title=title, caption=caption, box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1),
                 collapse_padding=True, title_justify="left", caption_justify="left", show_edge=False,
                 min_width=len(title) if title else None)


def middle(text: str, width: int) -> str:
    """`text` cut to `width` characters in the middle (prefix and end kept: `inv_XLgY…jZ3G`), when longer."""
    if width < 3 or len(text) <= width:
        return text
    keep = width - 1
    head = (keep + 1) // 2
    return text[:head] + ELLIPSIS + text[len(text) - (keep - head):]


def print_table(console: Console, table: Table, *, wide: bool = False) -> None:
    """Print a table: as wide as the terminal, or with `wide` as wide as its widest row needs (for a pager
    or a file: `orbfin ... --wide | less -S`)."""
    if wide:
        natural = Console(width=10_000).measure(table).maximum
        Console(file=console.file, width=max(natural, console.width), force_terminal=console.is_terminal,
                no_color=console.no_color, highlight=False).print(table)
    else:
        console.print(table)
