"""Print the package's dependencies with every extra (dev included), one per line.

``--override "langgraph==1.2.15"`` replaces the pin of that distribution, so the suite
can run against another release than the one a plain install resolves to
(scripts/matrix.sh uses it for the lowest supported LangGraph).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9_.\-]+", requirement)
    return (match.group(0) if match else requirement).lower().replace("_", "-")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--override", action="append", default=[])
    args = parser.parse_args()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for items in project["optional-dependencies"].values():
        requirements += [r for r in items if not r.startswith(project["name"])]
    overrides = {_name(o): o for o in args.override}
    seen: set[str] = set()
    for requirement in requirements:
        name = _name(requirement.split("[")[0])
        line = overrides.get(name, requirement)
        if line not in seen:
            seen.add(line)
            print(line)


if __name__ == "__main__":
    main()
