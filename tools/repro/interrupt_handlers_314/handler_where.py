"""Diagnostic: raise as Python's own handler does, after printing the instruction the eval loop was at."""

import dis
import signal
from types import FrameType


def onInterrupt(signum: int, frame: FrameType | None) -> None:
    if frame is not None:
        opname = dis.opname[frame.f_code.co_code[frame.f_lasti]]
        print(f"    (signal handled in {frame.f_code.co_name} at offset {frame.f_lasti}: {opname})")
    raise KeyboardInterrupt("interrupted")


signal.signal(signal.SIGINT, onInterrupt)
