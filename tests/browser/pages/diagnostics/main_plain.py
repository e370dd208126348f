"""Main side of the diagnostics page served without COOP/COEP: what both sides detect without isolation."""

import pagekit
from worker import Diagnostics

from workerlib import diagnostics, systemVersions

probe = await Diagnostics.connect("diag")  # noqa: F704 - PyScript runs main scripts with top-level await
pagekit.finish(
    {
        "main": {"versions": dict(systemVersions), "lines": list(diagnostics)},
        "worker": await probe.report(),  # noqa: F704
    }
)
