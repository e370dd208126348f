"""Runs in each worker of the pool: keeps the log a broadcast gave it, and scans ranges of its lines."""

import re

from logs import LEVELS, SLOW, ScanReport

from workerlib import WorkerService

WORDS = re.compile(r"^(\S+) (\S+) (\S+) user=(\d+) took (\d+) ms$")


class LogScanner(WorkerService):
    """One per worker: the log's lines, split once when the broadcast arrives."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def load(self, text: str) -> int:
        """Keep the log (the pool broadcasts it to every worker once); how many lines it has."""
        self.lines = text.split("\n")
        return len(self.lines)

    def lineCount(self) -> int:
        """How many lines of log this worker holds."""
        return len(self.lines)

    def scan(self, first: int, count: int, passes: int) -> ScanReport:
        """Scan ``count`` lines from line ``first``, ``passes`` times over (to make the job as heavy as asked).

        A sync method on purpose: CPU-bound Python, no await. Cancelling the job interrupts it here.
        """
        report = ScanReport()
        for _ in range(passes):
            report = ScanReport(lines=0, levels=dict.fromkeys(LEVELS, 0))
            for number in range(first, min(first + count, len(self.lines))):
                line = self.lines[number]
                match = WORDS.match(line)
                if match is None:
                    continue
                report.lines += 1
                level, service = match.group(2), match.group(3)
                report.levels[level] += 1
                if level == "ERROR":
                    report.errorsByService[service] = report.errorsByService.get(service, 0) + 1
                took = SLOW.search(line)
                if took is not None:
                    report.slowest.append((int(took.group(1)), number))
            report.slowest = sorted(report.slowest, reverse=True)[:5]
        return report
