"""What both threads of the log-scan example share: the log it scans, and the report a scan of some lines makes."""

import random
import re
from dataclasses import dataclass, field

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
SERVICES = ("auth", "billing", "search", "upload", "gateway")
SLOW = re.compile(r" took (\d+) ms$")
"""A request line ends with its duration: `` took 123 ms``."""


def makeLog(lines: int, seed: int) -> str:
    """A server log of ``lines`` lines, the same for the same seed (about 65 bytes a line)."""
    pick = random.Random(seed)
    out = []
    for number in range(lines):
        level = pick.choices(LEVELS, weights=(30, 55, 10, 5))[0]
        service = pick.choice(SERVICES)
        user = pick.randrange(1, 5000)
        millis = int(pick.expovariate(1 / 80))
        out.append(
            f"2026-12-06T{number // 3600 % 24:02}:{number // 60 % 60:02}:{number % 60:02} {level} {service} "
            f"user={user} took {millis} ms"
        )
    return "\n".join(out)


@dataclass
class ScanReport:
    """What a scan of some lines found: a count per level and per service of errors, and the slowest requests."""

    lines: int = 0
    levels: dict[str, int] = field(default_factory=dict)
    errorsByService: dict[str, int] = field(default_factory=dict)
    slowest: list[tuple[int, int]] = field(default_factory=list)
    """``(milliseconds, line number)`` of the slowest requests, slowest first (at most :data:`KEEP_SLOWEST`)."""

    def add(self, other: "ScanReport") -> None:
        """Fold another part's report into this one."""
        self.lines += other.lines
        for key, count in other.levels.items():
            self.levels[key] = self.levels.get(key, 0) + count
        for key, count in other.errorsByService.items():
            self.errorsByService[key] = self.errorsByService.get(key, 0) + count
        self.slowest = sorted([*self.slowest, *other.slowest], reverse=True)[:KEEP_SLOWEST]


KEEP_SLOWEST = 5
