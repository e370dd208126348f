"""workerlib: transparent Python-to-Python calls from a PyScript main thread into Pyodide workers."""
