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
