"""Main thread of the async-adapters page: adapters whose encode or decode is async (and really suspends), on both
sides, as argument, keyword argument, return value and round trip. A page of its own, so that a library that cannot
await adapters yet fails these checks without taking the rest of issue 4's checks down with it.
"""

import collections

import pagekit
import values_async
import values_shared
from pagecheck import compared, outcome
from values_async import Money, Temperature, Wallet
from values_shared import CALLS, ValueService

values_shared.SIDE = "main"
results = {}
service = await ValueService.connect()  # noqa: F704 - PyScript runs main scripts with top-level await

workerBefore = await outcome(service.calls())  # noqa: F704
results["names"] = list(values_async.catalog())
types = results["types"] = {}
for name, value in values_async.catalog().items():
    types[name] = {
        "argument": await outcome(service.check(name, value, table="async")),  # noqa: F704
        "keyword": await outcome(service.check(name, value=value, table="async")),  # noqa: F704
        "returned": await compared(values_async.catalog()[name], service.make(name, table="async")),  # noqa: F704
        "echo": await compared(value, service.echo(value)),  # noqa: F704
    }
results["wholeCatalog"] = {
    "returned": await compared(values_async.catalog(), service.makeAll(table="async")),  # noqa: F704
    "echo": await compared(values_async.catalog(), service.echo(values_async.catalog())),  # noqa: F704
}
results["places"] = {
    "arguments": await outcome(  # noqa: F704
        service.typeNames(Money(1, "EUR"), [Temperature(2.0)], wallet=Wallet([Money(3, "EUR")]))
    ),
    "returned": await compared(  # noqa: F704
        ((Money(1, "EUR"),), {"t": Temperature(5.0)}), service.echoAll(Money(1, "EUR"), t=Temperature(5.0))
    ),
}
workerAfter = await outcome(service.calls())  # noqa: F704
results["calls"] = {"main": dict(CALLS)}
if "value" in workerBefore and "value" in workerAfter:
    results["calls"]["worker"] = dict(
        collections.Counter(workerAfter["value"]) - collections.Counter(workerBefore["value"])
    )
else:
    results["calls"]["worker"] = {"error": [workerBefore, workerAfter]}
results["alive"] = await outcome(service.echo("still serving"))  # noqa: F704

pagekit.finish(results)
