"""PIIMiddleware's stream redaction survives harden and RunnerMiddleware.

LangChain's ``PIIMiddleware`` redacts what an agent streams through the stream
transformer it registers on the compiled graph (the v3 streaming protocol). A
hardened agent keeps that transformer, so it streams no raw PII there, sync or
async. In the v1/v2 stream modes LangChain does not redact streams (the model's
raw answer is in ``messages``, ``updates``, ``values``... before ``after_model``
replaces it); a wrapped agent streams there exactly what the bare agent does.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import PIIMiddleware
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from langgraph_runner import harden
from langgraph_runner.agents import RunnerMiddleware

EMAIL = "alice@example.com"
WAYS = ["bare", "harden", "harden-raise", "middleware", "middleware-raise"]
MODES = ["values", "updates", "messages", "custom", "debug", "tasks", "checkpoints"]


def _agent(way: str) -> Any:
    model = GenericFakeChatModel(messages=iter([AIMessage(f"Reach me at {EMAIL} today.")]))
    options: dict[str, Any] = {"on_error": "raise"} if way.endswith("-raise") else {}
    middleware: list[Any] = [PIIMiddleware("email", apply_to_output=True)]
    if way.startswith("middleware"):
        middleware.append(RunnerMiddleware(**options))
    agent = create_agent(model, [], middleware=middleware, checkpointer=InMemorySaver())
    return harden(agent, **options) if way.startswith("harden") else agent


def _config(way: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": f"pii-{way}"}}


QUESTION = {"messages": [HumanMessage("How do I reach you?")]}


@pytest.fixture(autouse=True)
def _quiet() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the v3 protocol and astream_events v1 warn
        yield


@pytest.mark.parametrize("way", WAYS)
def test_v3_sync_stream_has_no_raw_pii(way: str) -> None:
    events = list(_agent(way).stream_events(QUESTION, _config(way), version="v3"))
    assert events
    assert EMAIL not in repr(events)
    assert "[REDACTED_EMAIL]" in repr(events)


@pytest.mark.parametrize("way", WAYS)
async def test_v3_async_stream_and_its_messages_projection_have_no_raw_pii(way: str) -> None:
    run = await _agent(way).astream_events(QUESTION, _config(way), version="v3")
    events = [event async for event in run]
    assert EMAIL not in repr(events)
    run = await _agent(way).astream_events(QUESTION, _config(way) | {}, version="v3")
    text = ""
    async for message in run.messages:
        async for chunk in message.text:
            text += chunk
    assert EMAIL not in text
    assert "[REDACTED_EMAIL]" in text


def _leaks_sync(way: str, version: str) -> list[str]:
    return [
        mode
        for mode in MODES
        if EMAIL
        in repr(list(_agent(way).stream(QUESTION, _config(way), stream_mode=mode, version=version)))
    ]


async def _leaks_async(way: str, version: str) -> list[str]:
    leaks = []
    for mode in MODES:
        chunks = [
            c
            async for c in _agent(way).astream(
                QUESTION, _config(way), stream_mode=mode, version=version
            )
        ]
        if EMAIL in repr(chunks):
            leaks.append(mode)
    return leaks


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("way", WAYS[1:])
async def test_v1_v2_stream_modes_show_no_pii_the_bare_agent_does_not(
    way: str, version: str
) -> None:
    assert set(_leaks_sync(way, version)) <= set(_leaks_sync("bare", version))
    assert set(await _leaks_async(way, version)) <= set(await _leaks_async("bare", version))


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("way", WAYS[1:])
async def test_astream_events_show_pii_only_where_the_bare_agent_does(
    way: str, version: str
) -> None:
    async def leaks(w: str) -> bool:
        events = [e async for e in _agent(w).astream_events(QUESTION, _config(w), version=version)]
        return EMAIL in repr(events)

    assert await leaks(way) <= await leaks("bare")


def test_the_final_state_has_no_raw_pii_either_way() -> None:
    for way in WAYS:
        out = _agent(way).invoke(QUESTION, _config(way))
        assert EMAIL not in repr(out), way
