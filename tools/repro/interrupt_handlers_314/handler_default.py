"""Python's own SIGINT handler, which raises KeyboardInterrupt where the eval loop noticed the signal."""

import signal

signal.signal(signal.SIGINT, signal.default_int_handler)
