"""Every LangChain middleware listed before and after RunnerMiddleware: docs/agents.md's table.

The table in the docs is made by running each pair (scripts/agent_middleware_table.py);
this runs them again and checks that the docs say what happens now.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "agent_middleware_table.py"


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("agent_middleware_table", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = sys.modules.get(spec.name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # pydantic resolves the fake model's annotations there
        spec.loader.exec_module(module)
    return module


def test_the_docs_table_is_what_every_pair_does_now() -> None:
    script = _script()
    made = script.table()
    assert script.in_doc(script.DOC.read_text()) == made, (
        "docs/agents.md is out of date: run python scripts/agent_middleware_table.py --write"
    )
    assert made.count("\n| `") == 2 * len(script.SCENARIOS)


def test_no_order_silently_switches_a_handler_off() -> None:
    """Each exception handler acts in the order it is accepted in, or the order is refused."""
    script = _script()
    for name, _, order, what in script.rows():
        handlers = ("ModelRetryMiddleware", "ToolRetryMiddleware", "ToolErrorMiddleware")
        if name in handlers and order == script.ORDERS[0]:
            assert what == script.REFUSED, name
        if name == "ModelFallbackMiddleware" and order == script.ORDERS[1]:
            assert "backup calls 1" in what
        if name.startswith("structured-output"):
            assert "their retries 1" in what and "structured answer" in what
        if name.startswith("HumanInTheLoop"):
            assert "reviews 1" in what


@pytest.mark.parametrize("fix", ["list-after", "raise"])
def test_a_refused_order_has_two_working_fixes(fix: str) -> None:
    from langchain.agents import create_agent
    from langchain.agents.middleware import ModelFallbackMiddleware
    from langchain_core.messages import AIMessage, HumanMessage

    from langgraph_runner.agents import RunnerMiddleware

    script = _script()
    primary = script.Model(script=[ConnectionError("down")])
    backup = script.Model(script=[AIMessage("from backup")])
    theirs = ModelFallbackMiddleware(backup)
    if fix == "list-after":
        listed = [RunnerMiddleware(retry=2), theirs]
    else:
        listed = [theirs, RunnerMiddleware(retry=2, model={"on_error": "raise"})]
    out = create_agent(primary, [], middleware=listed).invoke({"messages": [HumanMessage("hi")]})
    assert out["messages"][-1].content == "from backup"
