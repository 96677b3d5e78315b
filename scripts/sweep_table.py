"""Regenerate the fault-sweep table in docs/testing.md (every supported shape, every point).

    python scripts/sweep_table.py           # rewrite the table between its markers
    python scripts/sweep_table.py --check   # exit 1 if the docs' table is not current

Each shape (tests/testing/sweep_shapes.py) is swept in record mode, raise mode and bare,
with ``ConnectionError`` as the fault; the table shows each point's outcome per mode.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.testing.sweep_shapes import Mode

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "testing.md"
START = "<!-- sweep-table:start (python scripts/sweep_table.py) -->"
END = "<!-- sweep-table:end -->"


@functools.cache
def report(shape: str, mode: Mode) -> Any:
    """The sweep of ``shape`` in ``mode`` (each is run once per process)."""
    from tests.testing.sweep_shapes import all_shapes

    from langgraph_runner.testing import sweep

    make, inputs, _ = all_shapes()[shape]
    return sweep(make(mode), inputs)


def table() -> str:
    """The current table, from fresh sweeps."""
    from tests.testing.sweep_shapes import render_table

    return render_table(report)


def replaced(doc: str, new_table: str) -> str:
    """``doc`` with the text between the markers replaced by ``new_table``."""
    head, start, rest = doc.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise SystemExit(f"{DOC.name}: the sweep-table markers are missing")
    return f"{head}{START}\n{new_table}\n{END}{tail}"


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    doc = DOC.read_text()
    new = replaced(doc, table())
    if "--check" in argv:
        if new != doc:
            print("docs/testing.md: the sweep table is not current; run scripts/sweep_table.py")
            return 1
        print("docs/testing.md: the sweep table is current")
        return 0
    DOC.write_text(new)
    print("docs/testing.md: sweep table written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
