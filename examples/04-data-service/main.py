# mypy: disable-error-code="top-level-await"
"""Runs on the page's main thread: loads the worker's order book, streams the large orders into a table as they
come, and checks them against the book's own summary."""

import time
from decimal import Decimal

import js
from orders import Order, Summary
from worker import OrderBook

from workerlib import ServiceClient, elapsedTime

COUNT = 2_000
SEED = 7
MINIMUM = Decimal("400.00")


def show(text: str) -> None:
    """Print a line to the console and under the table."""
    print(text)
    output = js.document.getElementById("output")
    output.textContent = (output.textContent + "\n" + text).strip()


def addRow(order: Order) -> None:
    """Append one order to the page's table."""
    row = js.document.createElement("tr")
    for cell in (str(order.number), order.customer, f"{order.amount:.2f}", order.placed.isoformat()):
        column = js.document.createElement("td")
        column.textContent = cell
        row.appendChild(column)
    js.document.getElementById("rows").appendChild(row)


async def main() -> None:
    """Load, stream, summarise, and report on the page whether everything agrees."""
    started = time.time()
    book: ServiceClient[OrderBook] = await OrderBook.connect()
    held = await book.load(COUNT, SEED)
    show(f"the worker made {held:,} orders in {elapsedTime(started)}")

    streamed: list[Order] = []
    async for order in book.largerThan(MINIMUM):  # each row appears as its order arrives
        addRow(order)
        streamed.append(order)
    show(f"{len(streamed)} orders of more than {MINIMUM} streamed into the table")

    summary: Summary = await book.summary()
    show(
        f"summary: {summary.orders:,} orders from {summary.customers} customers, total {summary.total}, "
        f"largest #{summary.largest.number if summary.largest else '-'}"
    )
    ok = (
        held == COUNT
        and summary.orders == COUNT
        and all(type(order) is Order and type(order.amount) is Decimal for order in streamed)
        and all(order.amount > MINIMUM for order in streamed)
        and summary.largest is not None
        and summary.largest in streamed
        and [order.number for order in streamed] == sorted(order.number for order in streamed)
        and len(streamed) == int(js.document.getElementById("rows").childElementCount)
    )
    show("example finished: OK" if ok else "example finished: WRONG RESULTS")
    js.window.exampleStatus = "ok" if ok else "failed"


await main()  # noqa: F704 - PyScript runs main scripts with top-level await
