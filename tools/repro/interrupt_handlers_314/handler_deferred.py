"""The workaround: where the eval loop noticed the signal at a backward jump (which the exception table may not
cover), raise nothing there; turn on sys.monitoring LINE events instead, and raise KeyboardInterrupt from the first
LINE event, at the start of the next line, an instruction the exception table does cover. Anywhere else (a C function
checking for signals) raise at once, as Python's own handler does."""

import dis
import signal
import sys
from types import CodeType, FrameType

monitoring = sys.monitoring
BACKWARD_JUMPS = {dis.opmap[name] for name in ("JUMP_BACKWARD", "JUMP_BACKWARD_NO_INTERRUPT") if name in dis.opmap}
TOOL = 4  # PEP 669 assigns ids 0-2 and 5; 3 and 4 are free


def onLine(code: CodeType, line: int) -> None:
    monitoring.set_events(TOOL, 0)
    monitoring.register_callback(TOOL, monitoring.events.LINE, None)
    monitoring.free_tool_id(TOOL)
    raise KeyboardInterrupt("interrupted")


def onInterrupt(signum: int, frame: FrameType | None) -> None:
    if frame is None or frame.f_code.co_code[frame.f_lasti] not in BACKWARD_JUMPS:
        raise KeyboardInterrupt("interrupted")
    monitoring.use_tool_id(TOOL, "interrupt")
    monitoring.register_callback(TOOL, monitoring.events.LINE, onLine)
    monitoring.set_events(TOOL, monitoring.events.LINE)


signal.signal(signal.SIGINT, onInterrupt)
