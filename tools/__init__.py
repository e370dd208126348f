"""Development tools: the local server, the Pyodide folder builder, the headless demo runner."""
