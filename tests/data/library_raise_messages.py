"""How many installed libraries' own error messages redaction alters (a held-out check).

Reads the message of every ``raise SomeError("...")`` (string literals, and f-strings
with each placeholder shown as ``{}``) in the installed sources of httpx, requests,
psycopg, redis, openai, anthropic, pydantic, sqlalchemy and a few more, runs each
through ``sanitize_message`` and prints the fraction altered, with the altered ones.
Unlike ``benign_corpus.json``, none of these messages was looked at while the rules
were written.

    python tests/data/library_raise_messages.py
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

from langgraph_runner import sanitize_message

PACKAGES = (
    "httpx",
    "requests",
    "psycopg",
    "redis",
    "openai",
    "anthropic",
    "pydantic",
    "sqlalchemy",
    "urllib3",
    "langchain_core",
    "langgraph",
    "aiohttp",
    "botocore",
    "jwt",
    "yaml",
)


def _messages(package: str) -> set[str]:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return set()
    found: set[str] = set()
    for root in spec.submodule_search_locations:
        for path in Path(root).rglob("*.py"):
            try:
                tree = ast.parse(path.read_text(errors="replace"))
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                    continue
                if not node.exc.args:
                    continue
                arg = node.exc.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    text = arg.value
                elif isinstance(arg, ast.JoinedStr):
                    text = "".join(
                        str(v.value) if isinstance(v, ast.Constant) else "{}" for v in arg.values
                    )
                else:
                    continue
                if len(text) > 15:
                    found.add(text)
    return found


def main() -> None:
    """Print the fraction altered and each altered message."""
    pairs = sorted({(p, m) for p in PACKAGES for m in _messages(p)})
    altered = [(p, m) for p, m in pairs if sanitize_message(m, max_length=10**5) != m]
    share = 100 * len(altered) / max(len(pairs), 1)
    print(f"{len(pairs)} messages, {len(PACKAGES)} packages: {len(altered)} altered ({share:.2f}%)")
    for package, message in altered:
        print(f"{package}: {message[:160]!r}")


if __name__ == "__main__":
    main()
