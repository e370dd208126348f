// Usage: node run.mjs <folder of the npm pyodide package> [default|where|deferred] [loop names...]
// Loads that Pyodide in Node, gives it an interrupt buffer, and for each loop of repro.py runs it while another
// thread stores SIGINT (2) into the buffer 300 ms later; prints what each loop's except/finally blocks did.
import { Worker } from "node:worker_threads";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const here = path.dirname(new URL(import.meta.url).pathname);
const [packageDir, handler = "default", ...loops] = process.argv.slice(2);
if (!packageDir) {
  console.error("usage: node run.mjs <node_modules/pyodide folder> [default|where|deferred] [loop...]");
  process.exit(2);
}
const require = createRequire(path.resolve(packageDir, "package.json"));
const { loadPyodide, version } = require(path.resolve(packageDir, "pyodide.js"));

const pyodide = await loadPyodide({ indexURL: path.resolve(packageDir) + "/" });
pyodide.setStdout({ batched: (line) => console.log(line) });
const buffer = new Int32Array(new SharedArrayBuffer(4));
pyodide.setInterruptBuffer(buffer);
pyodide.runPython(readFileSync(path.join(here, "repro.py"), "utf8"));
pyodide.runPython(readFileSync(path.join(here, `handler_${handler}.py`), "utf8"));
const python = pyodide.runPython("import sys; sys.version.split()[0]");
console.log(`Pyodide ${version} (Python ${python}), SIGINT handler: ${handler}`);

for (const loop of loops.length ? loops : ["straight", "branchy", "condition"]) {
  const timer = new Worker(
    "const { workerData } = require('node:worker_threads');" +
      "Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300); Atomics.store(workerData, 0, 2);",
    { eval: true, workerData: buffer },
  );
  console.log("  " + pyodide.runPython(`run(${JSON.stringify(loop)})`));
  await timer.terminate();
}
