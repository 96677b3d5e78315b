"""A scheduler in a process of its own, for the exactly-once test across processes.

``python -m tests.service.schedule_process URL QUEUE`` builds the service on the
checkpointer ``URL`` and run queue ``QUEUE`` (no workers: the runs stay queued), prints
``ready``, then for each line ``<unix seconds>`` it reads sets its scheduler's clock
there, fires the due ticks, and prints ``ticked``; it exits at the end of its input.
"""

from __future__ import annotations

import sys

from langgraph_runner.runs import open_checkpointer
from tests.service.hook_helpers import Clock, one_step


def main(url: str, queue: str) -> None:
    from langgraph_runner.service import create_app

    with open_checkpointer(url) as saver:
        app = create_app(
            workflows={"build": one_step()},
            checkpointer=saver,
            api_keys={"key-a": f"a-{queue}"},
            workers=0,
            queue=queue,
        )
        scheduler = app.state.scheduler
        scheduler.clock = clock = Clock()
        print("ready", flush=True)
        for line in sys.stdin:
            clock.now = float(line)
            scheduler.tick()
            print("ticked", flush=True)
        scheduler.close()
        app.state.webhooks.close()
        app.state.workers.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
