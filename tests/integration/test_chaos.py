"""Chaos: 1,000 seeded runs of a 10-node graph of create_node nodes, checked against a model.

Every run draws, from ``random.Random(seed)``, how it is run (invoke with sync nodes, or
ainvoke with sync and async nodes; with or without a run abort signal) and, per node, its
options (retries, timeout, deadline, circuit breaker, fallback) and its behaviour, one
outcome per call: succeed, fail retryably (ConnectionError), fail with a ValueError, hang
past the timeout (honouring the abort signal or not), or abort the run (inline, from a
threading.Timer, or during a real retry wait). A small model written from the spec, not
from the code, predicts every node's outcome; the run must match it:

* one error record per terminal failure (two when the callable fallback fails too), none
  for a success; codes, attempts, ``recovered`` and ``retry_after`` as predicted; every
  record is plain JSON that ``NodeError.model_validate`` accepts;
* ``routing_flags["blocked"]`` is set iff a failure was not recovered by a fallback;
* ``on_failure`` once per terminal failure; a fallback sees the primary error; a routed
  fallback runs the fallback node once per superstep that routed to it;
* each timed-out attempt logs ``node.timed_out`` and a sync one abandons one thread;
  late results are discarded;
* an aborted run raises ``NodeAbortedError``; the aborting node writes nothing and the
  state holds exactly the earlier supersteps (plus siblings that finished first);
* breaker transitions (listeners) are legal, continuous and the ones predicted;
* afterwards no abort-honouring call is still running; abandoned ones are waited for.

Shared breakers are used by at most one node per superstep, so their order is fixed,
except in one "group" pattern where a whole parallel step shares one breaker and only
order-independent facts are checked. A fake clock, advanced by nodes of other supersteps,
drives one breaker through half-open.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Iterator
from typing import Any

import pytest

from langgraph_runner._policies.circuit import reset_circuit_breakers
from langgraph_runner._policies.timeouts import wait_for_abandoned_threads
from tests.chaos_harness import (
    describe,
    run_seed,
)
from tests.chaos_model import (
    BLOCKS,
    SEEDS,
    draw_plan,
    predict,
)

pytestmark = pytest.mark.slow  # seconds per test: skipped by -m 'not slow'


@pytest.fixture
def chaos_loop() -> Any:
    loop = asyncio.new_event_loop()
    reset_circuit_breakers()
    yield loop
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
    reset_circuit_breakers()


@contextlib.contextmanager
def collect_between_runs() -> Iterator[None]:
    """No automatic garbage collection while a run is timed: collect between runs instead.

    Building 1,000 graphs makes full collections that pause every thread for 10-90 ms
    on this machine, near the 60-80 ms timeouts: fast calls would time out for real.
    With collection off during a run, one young-generation pass after it frees the
    run's cycles (nothing of it was promoted meanwhile).
    """
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


@pytest.mark.parametrize("block", range(BLOCKS))
def test_chaos_runs(block: int, chaos_loop: asyncio.AbstractEventLoop) -> None:
    """100 seeded chaos runs match the model; nothing abort-honouring is left running."""
    per_block = SEEDS // BLOCKS
    failures = []
    with collect_between_runs():
        for seed in range(block * per_block, (block + 1) * per_block):
            problems = run_seed(seed, chaos_loop)
            gc.collect(0)
            if problems:
                failures.append(describe(draw_plan(seed)) + "\n    " + "\n    ".join(problems))
    leftovers = wait_for_abandoned_threads(5.0)
    if failures:
        pytest.fail(f"{len(failures)} run(s) broke an invariant:\n\n" + "\n\n".join(failures))
    assert leftovers, "abandoned worker threads still running 5 s after the block"


def test_model_is_deterministic() -> None:
    """The same seed draws the same plan and the same prediction."""
    for seed in (0, 1, 999):
        assert describe(draw_plan(seed)) == describe(draw_plan(seed))
        assert predict(draw_plan(seed)) == predict(draw_plan(seed))
