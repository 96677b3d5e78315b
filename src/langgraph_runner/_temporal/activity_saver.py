"""The checkpointer a run on Temporal uses in its workflow: every call is an activity.

A workflow may do no I/O, so ``ActivitySaver`` keeps nothing itself: LangGraph's loop
calls it as usual (``aget_tuple`` when the run starts, ``aput`` per step, ``aput_writes``
per finished task), and each call becomes an activity (``run_workflow.RunActivities``)
that writes to the service's own checkpointer, the same database ``GET /runs/{id}``
reads. Temporal records each result: a workflow replayed on another worker gets the
same answers without writing again.

LangGraph names a new checkpoint with a time-based id; in a run's workflow the id comes
from the workflow (``checkpoint_ids``), the same on a replay. Should a replay name one
anew all the same, the saver maps the replay's id to the stored one (the activity's
recorded result), so the chain of checkpoints in the database stays whole.

What crosses into the activities is encoded with LangGraph's own serializer
(``encode``/``decode``): messages and other LangChain objects survive as they do in
any saver.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, CancelledError

__all__ = ["ACTIVITY", "DB_OPTIONS", "ActivitySaver", "decode", "encode"]

ACTIVITY = "langgraph_runner.runs."
"""The prefix of the run activities' names (``ACTIVITY + "put"`` ...)."""
DB_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(seconds=60),
    # A lost worker's write is tried again on another after this (the activity beats).
    "heartbeat_timeout": timedelta(seconds=3),
    # The database may be down for a while: retried (1 s, 2 s, ... 30 s) for 10 minutes.
    "schedule_to_close_timeout": timedelta(minutes=10),
    "retry_policy": RetryPolicy(maximum_interval=timedelta(seconds=30)),
}
"""The options of every bookkeeping activity (the database's reads and writes)."""
_SERDE = JsonPlusSerializer()
Config = RunnableConfig
Metadata = CheckpointMetadata
Versions = ChannelVersions


def encode(value: Any) -> list[str]:
    """``value`` as JSON data for Temporal: LangGraph's serializer, base64."""
    kind, data = _SERDE.dumps_typed(value)
    return [kind, base64.b64encode(data).decode("ascii")]


def decode(encoded: Sequence[str]) -> Any:
    """The value ``encode`` made."""
    kind, data = encoded
    return _SERDE.loads_typed((kind, base64.b64decode(data)))


def _version(current: str | int | None) -> int:
    if current is None:
        return 0
    if isinstance(current, int):
        return current
    return int(str(current).split(".")[0])


def _error(value: Any) -> Any:
    """A task's error as the node raised it, not as Temporal wrapped it: a cancelled
    activity is a ``CancelledError`` (the report's cancelled step), a failed one the
    node's error as the report shows it (``ConnectionError('...')``, the type and redacted
    message its ``ApplicationError`` carried), anything else its deepest cause."""
    if not isinstance(value, BaseException):
        return value
    cause: BaseException = value
    for _ in range(20):
        if isinstance(cause, (asyncio.CancelledError, CancelledError)):
            return asyncio.CancelledError("cancelled")
        if cause.__cause__ is None:
            break
        cause = cause.__cause__
    if isinstance(cause, ApplicationError) and cause.type:
        return f"{cause.type}({cause.message!r})"
    return cause


class ActivitySaver(BaseCheckpointSaver[str]):
    """A checkpointer for the workflow: reads and writes go to activities (module docstring).

    Args:
        run: What every call carries: the run's id, tenant and metadata to stamp.
    """

    def __init__(self, run: Mapping[str, Any]) -> None:
        super().__init__()
        self._run = dict(run)
        self._ids: dict[str, str] = {}  # the loop's checkpoint id -> the stored one

    def get_next_version(self, current: str | None, channel: None) -> str:
        """The savers' version format, without their random part (a replay must agree)."""
        return f"{_version(current) + 1:032}.{0.5:016}"

    def _stored(self, config: RunnableConfig) -> dict[str, Any]:
        conf = dict(config.get("configurable") or {})
        found = conf.get("checkpoint_id")
        out = {
            "thread_id": conf.get("thread_id"),
            "checkpoint_ns": conf.get("checkpoint_ns", ""),
        }
        if found:
            out["checkpoint_id"] = self._ids.get(str(found), str(found))
        return {"configurable": out}

    async def _call(self, name: str, *args: Any) -> Any:
        return await workflow.execute_activity(
            ACTIVITY + name, args=[self._run, *args], **DB_OPTIONS
        )

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        found = await self._call("get_tuple", encode(self._stored(config)))
        if found is None:
            return None
        cfg, checkpoint, metadata, parent, writes = decode(found)
        return CheckpointTuple(
            cfg,
            checkpoint,
            metadata,
            parent,
            [tuple(w) for w in writes] if writes is not None else None,
        )

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        raise NotImplementedError("a run on Temporal reads its history from the service")
        yield  # pragma: no cover - makes this an async generator

    async def aput(
        self, config: Config, checkpoint: Checkpoint, metadata: Metadata, new_versions: Versions
    ) -> Config:
        mine = str(checkpoint["id"])
        payload = encode((self._stored(config), checkpoint, metadata, new_versions))
        stored: dict[str, Any] = await self._call("put", payload)
        self._ids[mine] = str(stored["configurable"]["checkpoint_id"])
        return {"configurable": dict(stored["configurable"])}

    async def aput_writes(
        self, config: Config, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        plain = [(channel, _error(value)) for channel, value in writes]
        payload = encode((self._stored(config), plain, task_id, task_path))
        await self._call("put_writes", payload)
