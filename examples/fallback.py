"""Fallbacks: a callable that recovers inline, and a node name to route to.

An order graph prices an item, checks stock and confirms the order::

    START -> price -> stock -> confirm -> END
                         \\-> manual_review -> END     (stock's fallback)

* ``price`` has a callable fallback (``cached_price``): when the pricing API is
  down, the fallback's update is used, the error record is kept with
  ``recovered=True`` and the run goes on (no ``blocked`` flag).
* ``stock`` has ``fallback="manual_review"``: on failure it returns
  ``Command(update=<record + blocked flag>, goto="manual_review")``. It has no
  static edge out (the *edgeless pattern*): on success it returns
  ``Command(goto="confirm")`` itself. LangGraph adds a ``goto`` to a node's
  static edges, so with a static ``stock -> confirm`` edge a failure would run
  ``manual_review`` AND ``confirm``: the last run shows that pitfall.

Both nodes come from one ``node_factory`` (retries and an ``on_failure`` alert
for every node). Deterministic, no network: run ``python examples/fallback.py``.
"""

from __future__ import annotations

import logging
import operator
from typing import Annotated, Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

from langgraph_runner import (
    GraphState,
    NodeError,
    RetryConfig,
    get_node_context,
    node_factory,
)


class OrderState(GraphState, total=False):
    sku: str
    outage: bool  # the input switch that makes both upstream APIs fail
    price: float
    price_source: str
    visited: Annotated[list[str], operator.add]


def price(state: OrderState) -> dict[str, Any]:
    """Ask the (simulated) pricing API."""
    if state.get("outage"):
        raise ConnectionError("pricing API unreachable")
    return {"price": 19.99, "price_source": "live", "visited": ["price"]}


def cached_price(state: OrderState) -> dict[str, Any]:
    """price's fallback: yesterday's price. primary_error is why price failed."""
    ctx = get_node_context()
    why = type(ctx.primary_error).__name__ if ctx is not None else "unknown"
    return {"price": 18.50, "price_source": f"cache ({why})", "visited": ["cached_price"]}


def stock(state: OrderState) -> Command[Literal["confirm", "manual_review"]]:
    """Ask the (simulated) warehouse API; on success route to confirm."""
    if state.get("outage"):
        raise ConnectionError("warehouse API unreachable")
    return Command(update={"visited": ["stock"]}, goto="confirm")


def manual_review(state: OrderState) -> dict[str, Any]:
    """stock's fallback node: a person checks the shelf."""
    return {"visited": ["manual_review"]}


def confirm(state: OrderState) -> dict[str, Any]:
    """Confirm the order."""
    return {"visited": ["confirm"]}


def alert(record: NodeError, state: Any) -> None:
    """on_failure hook: called once per terminal failure (recovered or not)."""
    print(f"  on_failure: {record.node} {record.code} recovered={record.recovered}")


# Graph-wide defaults; per-node arguments (here: fallback=) are added or win.
make = node_factory(retry=RetryConfig(max_attempts=2, initial_interval=0), on_failure=alert)


def build(*, static_edge_from_stock: bool = False) -> Any:
    g = StateGraph(OrderState)
    g.add_node("price", make(price, fallback=cached_price))
    g.add_node("stock", make(stock, fallback="manual_review"))
    g.add_node("manual_review", manual_review)
    g.add_node("confirm", confirm)
    g.add_edge(START, "price")
    g.add_edge("price", "stock")  # fine: a callable fallback does not route
    if static_edge_from_stock:
        g.add_edge("stock", "confirm")  # the pitfall: goto ADDS to static edges
    g.add_edge("manual_review", END)
    g.add_edge("confirm", END)
    return g.compile()


def show(title: str, graph: Any, outage: bool) -> None:
    print(f"=== {title} ===")
    out = graph.invoke({"sku": "A-1", "outage": outage})
    print(f"visited: {' -> '.join(out['visited'])}")
    print(f"price: {out['price']} from {out['price_source']}")
    print(f"routing_flags: {out['routing_flags']}")
    print("errors:" if out["errors"] else "errors: none")
    for record in out["errors"]:
        print(f"  - {record['node']} {record['code']} recovered={record['recovered']}")
        print(f"    {record['message']}")
    print()


def main() -> None:
    # The retry/failure events go to the `langgraph_runner` logger; keep this output short.
    logging.getLogger("langgraph_runner").setLevel(logging.CRITICAL)
    show("healthy run", build(), outage=False)
    show("outage: price recovers inline, stock routes to manual_review", build(), outage=True)
    show(
        "outage with a static stock -> confirm edge (both run!)",
        build(static_edge_from_stock=True),
        outage=True,
    )


if __name__ == "__main__":
    main()
