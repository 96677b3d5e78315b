"""A hit whose artifacts are gone is a miss, logged; the node runs and rebuilds them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langgraph.cache.memory import InMemoryCache
from langgraph.graph import START, StateGraph
from typing_extensions import TypedDict

from langgraph_runner import create_node
from langgraph_runner._cache.artifacts import local_exists, referenced
from langgraph_runner._cache.node_cache import NodeCache
from langgraph_runner._records.logs import get_event_logger
from tests.conftest import EventCapture, counting_closures

pytestmark = counting_closures

KEY = "test-artifacts-key-0123456789abcdef"
FP = "f" * 64


class S(TypedDict, total=False):
    q: str
    artifact_paths: list[str]
    report: str


def _cache(**kw: Any) -> NodeCache:
    return NodeCache(backend=InMemoryCache(), signing_key=KEY, **kw)


def test_deleted_artifact_makes_the_node_run_again(tmp_path: Path, events: EventCapture) -> None:
    """Through a graph: delete the file a cached result lists, and the node rebuilds it."""
    runs: list[str] = []

    def render(state: S) -> dict[str, Any]:
        path = tmp_path / f"{state['q']}.pdf"
        path.write_text("pdf")
        runs.append(state["q"])
        return {"artifact_paths": [str(path)]}

    g = StateGraph(S)
    g.add_node("render", create_node(render, cache=_cache(inputs=["q"]), logger=events))
    g.add_edge(START, "render")
    graph = g.compile()
    first = graph.invoke({"q": "doc"})
    graph.invoke({"q": "doc"})
    assert runs == ["doc"]
    Path(first["artifact_paths"][0]).unlink()
    again = graph.invoke({"q": "doc"})
    assert runs == ["doc", "doc"] and Path(again["artifact_paths"][0]).exists()
    missing = events.named("node.cache_artifact_missing")
    assert len(missing) == 1 and missing[0]["node"] == "render"
    assert missing[0]["artifact"].endswith("doc.pdf")


def test_graph_state_artifact_dict_is_checked_on_a_hit(tmp_path: Path) -> None:
    """GraphState's artifact_paths shape ({"report": path}): a deleted file is rebuilt."""
    from langgraph_runner import GraphState

    class G(GraphState, total=False):
        q: str

    runs: list[str] = []

    def render(state: G) -> dict[str, Any]:
        path = tmp_path / f"{state['q']}.html"
        path.write_text("html")
        runs.append(state["q"])
        return {"artifact_paths": {"report": str(path)}}

    g = StateGraph(G)
    g.add_node("render", create_node(render, cache=_cache(inputs=["q"])))
    g.add_edge(START, "render")
    graph = g.compile()
    first = graph.invoke({"q": "doc"})
    graph.invoke({"q": "doc"})
    assert runs == ["doc"]
    Path(first["artifact_paths"]["report"]).unlink()
    again = graph.invoke({"q": "doc"})
    assert runs == ["doc", "doc"] and Path(again["artifact_paths"]["report"]).exists()
    assert referenced({"artifact_paths": {"a": "x.pdf", "gone": None}}, ["report"]) == ["x.pdf"]


def test_declared_fields_and_callables_name_artifacts(tmp_path: Path) -> None:
    """artifacts= names result fields (a path or a list) or a callable returning paths."""
    there, gone = tmp_path / "there.txt", tmp_path / "gone.txt"
    there.write_text("x")
    for spec in (["report"], lambda result: [result["report"]]):
        cache = _cache(artifacts=spec)
        key = cache.key("n", {"spec": str(spec)}, thread_id=None, fingerprint=FP)
        cache.store(key, {"report": str(there)})
        assert cache.lookup(key).hit
        cache.store(key, {"report": str(gone)})
        assert not cache.lookup(key).hit


async def test_pluggable_checker_decides_for_other_uris(events: EventCapture) -> None:
    """artifact_exists checks every artifact (s3://...); without it other URIs are trusted."""
    present = {"s3://bucket/a"}
    cache = _cache(artifact_exists=present.__contains__)
    key = cache.key("n", {}, thread_id=None, fingerprint=FP)
    cache.store(key, {"artifact_paths": ["s3://bucket/a"]})
    assert (await cache.alookup(key)).hit
    cache.store(key, {"artifact_paths": ["s3://bucket/a", "s3://bucket/b"]})
    assert not (await cache.alookup(key, events=get_event_logger(events))).hit
    assert events.named("node.cache_artifact_missing")[0]["artifact"] == "s3://bucket/b"
    assert local_exists("s3://bucket/never-checked")


def test_failing_checker_is_a_miss_not_a_crash(events: EventCapture) -> None:
    """A checker that raises cannot vouch for the hit: a miss, reported."""

    def broken(uri: str) -> bool:
        raise OSError("network down")

    cache = _cache(artifact_exists=broken)
    key = cache.key("n", {}, thread_id=None, fingerprint=FP)
    cache.store(key, {"artifact_paths": ["s3://b/a"]})
    assert not cache.lookup(key, events=get_event_logger(events)).hit
    assert events.named("node.cache_error")[0]["operation"] == "artifacts"


def test_local_paths_and_file_uris_are_checked_on_disk(tmp_path: Path) -> None:
    """Plain paths and file:// URIs exist only if the file does."""
    path = tmp_path / "a b.txt"
    assert not local_exists(str(path)) and not local_exists(path.as_uri())
    path.write_text("x")
    assert local_exists(str(path)) and local_exists(path.as_uri())


def test_commands_and_non_dict_results_are_read_safely() -> None:
    """artifact_paths is found in a Command's update; other results reference nothing."""
    from langgraph.types import Command

    assert referenced(Command(update={"artifact_paths": ["/x"]}), None) == ["/x"]
    assert referenced("text", None) == [] and referenced(None, ["report"]) == []


@pytest.mark.parametrize("bad", ["report", [""], 5])
def test_bad_artifact_config_is_rejected_naming_the_field(bad: Any) -> None:
    """artifacts must be field names or a callable."""
    with pytest.raises(TypeError, match="artifacts"):
        NodeCache(artifacts=bad)
