"""A long listing (10,000 accounts) is written line by line, laid out as the short ones are."""

import io

from rich.console import Console

from lotline.application import rendering
from lotline.application.rendering import Column, print_table


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def test_a_long_table_has_the_layout_of_a_short_one(monkeypatch):
    columns = [Column("account"), Column("value", right=True), Column("class", rank=1), Column("note", rank=2)]
    rows = [[f"ACC-{i:05d}", f"${i * 1234.5:,.2f}", "us_equity" if i % 3 else "bonds", "outside" if i % 7 == 0 else ""]
            for i in range(rendering._PLAIN_ROWS + 100)]
    written = {}
    rich_layout = rendering._table

    def slow_layout(*args):  # rich takes about ten seconds for 10,000 rows
        raise AssertionError("a long table went through rich's layout")

    for name, limit, layout in (("plain", rendering._PLAIN_ROWS, slow_layout), ("rich", len(rows) + 1, rich_layout)):
        monkeypatch.setattr(rendering, "_PLAIN_ROWS", limit)
        monkeypatch.setattr(rendering, "_table", layout)
        out = io.StringIO()
        dropped = print_table("Accounts", columns, rows, out=Console(file=out, width=40))
        written[name] = (_lines(out.getvalue()), dropped)
    assert written["plain"] == written["rich"]
    lines, dropped = written["plain"]
    assert dropped == ["note"]
    assert lines[1].split() == ["account", "value", "class"] and set(lines[2]) == {"\u2500"}
    assert lines[3].split() == ["ACC-00000", "$0.00", "bonds"]
    assert lines[2 + len(rows)].split() == [f"ACC-{len(rows) - 1:05d}", rows[-1][1], rows[-1][2]]
    assert all(len(line) <= 40 for line in lines)
