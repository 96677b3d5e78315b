"""A fake chat model that reports usage_metadata, for the limits and budgets tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult


class UsageModel(BaseChatModel):
    """Answers every call with a tool call, reporting ``tokens`` tokens (70% input)."""

    tokens: int = 100
    model: str = "fake-model-1"
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "usage-fake"

    def bind_tools(self, tools: Any, **kwargs: Any) -> UsageModel:  # type: ignore[override]
        """Tools are ignored: every answer calls the tool ``lookup``."""
        return self

    def _usage(self) -> dict[str, int]:
        inp = self.tokens * 7 // 10
        return {
            "input_tokens": inp,
            "output_tokens": self.tokens - inp,
            "total_tokens": self.tokens,
        }

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls += 1
        message = AIMessage(
            content="again",
            tool_calls=[{"name": "lookup", "args": {"q": "x"}, "id": f"call-{self.calls}"}],
            usage_metadata=self._usage(),  # type: ignore[arg-type]
            response_metadata={"model_name": self.model},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        self.calls += 1
        for word in ("a", "b", "c"):
            yield ChatGenerationChunk(message=AIMessageChunk(content=word))
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=self._usage(),  # type: ignore[arg-type]
                response_metadata={"model_name": self.model},
            )
        )


def admitted_calls(budget: Any, callers: int, mode: str, thread_id: str) -> int:
    """How many of ``callers`` concurrent calls of one node under ``budget`` ran.

    ``mode`` is ``"threads"`` (one thread per caller) or ``"asyncio"`` (one task per
    caller). A call that got in stays inside the node until every caller has got in or
    been refused, so the calls that ran all overlap (the worst case for a budget that
    checks first and counts after).
    """
    import asyncio
    import threading

    from langgraph_runner import create_node

    cfg: Any = {"configurable": {"thread_id": thread_id}}
    if mode == "threads":
        cond = threading.Condition()
        release = threading.Event()
        counts = {"inside": 0, "refused": 0, "ran": 0}

        def work(state: Any) -> dict[str, Any]:
            with cond:
                counts["inside"] += 1
                cond.notify_all()
            release.wait(30)
            return {}

        node: Any = create_node(work, budget=budget)

        def call() -> None:
            out = node.invoke({}, cfg)
            with cond:
                counts["ran" if not out.get("errors") else "refused"] += 1
                cond.notify_all()

        threads = [threading.Thread(target=call) for _ in range(callers)]
        for t in threads:
            t.start()
        with cond:
            cond.wait_for(lambda: counts["inside"] + counts["refused"] >= callers, timeout=30)
        release.set()
        for t in threads:
            t.join(30)
        return counts["ran"]

    async def main() -> int:
        release = asyncio.Event()
        counts = {"inside": 0, "refused": 0, "ran": 0}

        async def work(state: Any) -> dict[str, Any]:
            counts["inside"] += 1
            await release.wait()
            return {}

        anode: Any = create_node(work, budget=budget)

        async def call() -> None:
            out = await anode.ainvoke({}, cfg)
            counts["ran" if not out.get("errors") else "refused"] += 1

        tasks = [asyncio.ensure_future(call()) for _ in range(callers)]
        for _ in range(100_000):
            if counts["inside"] + counts["refused"] >= callers:
                break
            await asyncio.sleep(0)
        release.set()
        await asyncio.gather(*tasks)
        return counts["ran"]

    return asyncio.run(main())


def token_window_overshoot(
    callers: int,
    *,
    reserve: bool = True,
    seconds: float = 600.0,
    tokens_per_minute: float = 60_000.0,
    cost: tuple[float, float] = (500.0, 1500.0),
    duration: tuple[float, float] = (0.05, 0.5),
    seed: int = 1,
) -> float:
    """The most tokens started in any 60-second window, over the limit (1.0: at it).

    ``callers`` callers share one ``RateLimit(tokens_per_minute=...)`` in an in-process
    store on a fake clock (events in time order, nothing sleeps). Each caller loops: asks
    the store for a slot as a model call does (with ``reserve``, the key's mean tokens;
    without, the protocol before reservations: a check for one token), starts when told,
    runs ``duration`` seconds, then reports its tokens (``cost``, known only then) and
    settles. A call's tokens count at its start.
    """
    import heapq
    import math
    import random

    from langgraph_runner import InProcessLimitStore, RateLimit

    clock = {"now": 0.0}
    store = InProcessLimitStore(clock=lambda: clock["now"])
    rates = RateLimit(key="sim", tokens_per_minute=tokens_per_minute).rates
    rng = random.Random(seed)
    starts: list[tuple[float, float]] = []
    # (time, order, caller, what, tokens reserved, tokens used)
    events: list[tuple[float, int, int, str, float, float]] = [
        (0.0, i, i, "ask", 0.0, 0.0) for i in range(callers)
    ]
    heapq.heapify(events)
    order = callers
    while events:
        now, _, caller, what, reserved, used = heapq.heappop(events)
        if now > seconds:
            break
        clock["now"] = now
        order += 1
        if what == "ask":
            slot = store.acquire("sim", rates, 0.0, math.inf, reserve)
            heapq.heappush(events, (now + slot.wait, order, caller, "start", slot.tokens, 0.0))
        elif what == "start":
            tokens = rng.uniform(*cost)
            starts.append((now, tokens))
            end = now + rng.uniform(*duration)
            heapq.heappush(events, (end, order, caller, "end", reserved, tokens))
        else:
            store.settle("sim", rates, used, reserved)
            heapq.heappush(events, (now, order, caller, "ask", 0.0, 0.0))
    worst = total = 0.0
    first = 0
    for when, tokens in starts:
        total += tokens
        while starts[first][0] <= when - 60.0:
            total -= starts[first][1]
            first += 1
        worst = max(worst, total)
    return worst / tokens_per_minute
