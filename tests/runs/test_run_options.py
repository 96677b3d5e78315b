"""RunOptions: the keyword options of run/arun/rebuild/arebuild, written once."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from langgraph_runner._runs.run_options import (
    RUN_OPTION_DEFAULTS,
    RebuildOptions,
    RunOptions,
    own_options,
)
from langgraph_runner.runs import arebuild, arun, rebuild, run


class S(TypedDict, total=False):
    x: int
    y: int


def _graph() -> Any:
    g = StateGraph(S)
    g.add_node("n", lambda s: {"y": s["x"] + 1})
    g.add_edge(START, "n")
    g.add_edge("n", END)
    return g.compile()


def test_every_own_option_is_a_run_option_and_rebuild_takes_the_shared_ones() -> None:
    """The defaults table, RunOptions and RebuildOptions agree on the option names."""
    assert set(RUN_OPTION_DEFAULTS) <= RunOptions.__optional_keys__
    assert RebuildOptions.__optional_keys__ <= RunOptions.__optional_keys__
    assert RebuildOptions.__optional_keys__ == {"time_limit", "logger", "raise_on_error", "tenant"}


@pytest.mark.parametrize("fn", [run, arun, rebuild, arebuild])
def test_the_four_functions_take_their_options_as_one_typed_dict(fn: Any) -> None:
    """No keyword list is written out in run/arun/rebuild/arebuild: one **options each."""
    params = inspect.signature(fn).parameters.values()
    assert [p.name for p in params if p.kind is p.KEYWORD_ONLY] == []
    assert [p.name for p in params if p.kind is p.VAR_KEYWORD] == ["options"]


def test_own_options_fills_defaults_and_hands_the_rest_on() -> None:
    """Our options get their defaults; anything else is for graph.invoke."""
    own, rest = own_options({"tenant": "acme", "durability": "exit"}, owner="run")
    assert own == {**RUN_OPTION_DEFAULTS, "tenant": "acme"}
    assert rest == {"durability": "exit"}


def test_rebuild_refuses_a_keyword_it_does_not_take() -> None:
    """rebuild(exclusive=...) is a TypeError naming the keyword, as a plain signature was."""
    with pytest.raises(
        TypeError, match=r"^rebuild\(\) got unexpected keyword arguments: exclusive"
    ):
        own_options({"exclusive": False}, owner="rebuild", rebuild=True)


def test_run_hands_langgraphs_own_options_to_invoke() -> None:
    """output_keys (a graph.invoke option) reaches LangGraph; ours are taken by run."""
    result = run(_graph(), {"x": 1}, output_keys="y", raise_on_error=True, exclusive=False)
    assert result.output == 2


async def test_arun_takes_the_same_options() -> None:
    """arun reads the same RunOptions."""
    result = await arun(_graph(), {"x": 2}, output_keys="y", exclusive=False)
    assert result.output == 3
