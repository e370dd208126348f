"""A worker started with an inline config holding an original section: reports what importing workerlib did.

It reports through PyScript's own ``__export__``, as importing workerlib is what is tested and may fail.
"""

import json

try:
    import workerlib  # noqa: F401 - importing is the test

    outcome: dict[str, str] = {"imported": "workerlib"}
except Exception as error:
    outcome = {"type": type(error).__name__, "module": type(error).__module__, "message": str(error)}


def report() -> str:
    return json.dumps(outcome)


__export__ = ["report"]
