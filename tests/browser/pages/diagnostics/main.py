"""Main side of the diagnostics page: versions and report on both sides, the logging switch, checked services."""

import logging

import pagekit
from worker import Checked, Diagnostics, Unchecked

from workerlib import LOGGER_NAME, diagnostics, enableLogging, systemVersions

results = {}
log = logging.getLogger(f"{LOGGER_NAME}.page")

# Nothing may reach the console before logging is switched on: not these, not the clients' per-call records.
log.warning("diagnostics-marker: main before")
log.debug("diagnostics-marker: main before")
probe = await Diagnostics.connect("diag")  # noqa: F704 - PyScript runs main scripts with top-level await
await probe.log("diagnostics-marker: worker before")  # noqa: F704
results["main"] = {"versions": dict(systemVersions), "lines": list(diagnostics)}
results["worker"] = await probe.report()  # noqa: F704

enableLogging()
enableLogging()
results["mainHandlers"] = len(logging.getLogger(LOGGER_NAME).handlers)
log.debug("diagnostics-marker: main after")
results["workerHandlers"] = await probe.startLogging()  # noqa: F704
await probe.log("diagnostics-marker: worker after")  # noqa: F704


async def checkedCalls() -> dict[str, object]:
    checked = await Checked.connect("diag")
    return {
        "valid": await pagekit.outcome(checked.scale(2, "ab")),
        "asyncValid": await pagekit.outcome(checked.later(3)),
        "badParameter": await pagekit.outcome(checked.scale("two", "ab")),
        "badKeyword": await pagekit.outcome(checked.scale(2, label=b"ab")),
        "asyncBad": await pagekit.outcome(checked.later(3.5)),
        "badReturn": await pagekit.outcome(checked.broken()),
        "afterViolations": await pagekit.outcome(checked.scale(3, "x")),
    }


results["checked"] = await checkedCalls()  # noqa: F704
unchecked = await Unchecked.connect("diag")  # noqa: F704
results["unchecked"] = await pagekit.outcome(unchecked.scale("two", "ab"))  # noqa: F704

pagekit.finish(results)
