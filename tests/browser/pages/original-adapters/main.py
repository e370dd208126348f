"""Main side of the original-adapters page: its config has the original workerlib's [adapters] section, which
workerlib refuses on import, saying what to write instead; so does a worker whose inline config has it."""
# ruff: noqa: F704 - PyScript runs main scripts with top-level await

import json

import pagekit
import pyscript

results: dict[str, object] = {"configSection": dict(pyscript.config).get("adapters")}
try:
    import workerlib  # noqa: F401 - importing is the test
except Exception as error:
    results["mainImport"] = pagekit.describeError(error)
else:
    results["mainImport"] = "imported"

# The worker's own config (inline, as create_named_worker passes it) has the section too; the main thread's config
# is not used for it, as workerlib could not be imported here.
config = {key: value for key, value in json.loads(json.dumps(pyscript.config)).items() if key != "type"}
checker = await pyscript.create_named_worker(
    "/tests/browser/pages/original/inline_check.py", "inline-adapters", config=json.dumps(config)
)
results["workerImport"] = json.loads(await checker.report())
pagekit.finish(results)
