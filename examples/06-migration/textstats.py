"""An existing module, written before workerlib was in the picture: plain functions about a piece of text.

Nothing here imports workerlib or knows it will run in a worker. The page's first worker serves these functions as
they are (Option #1, ``exports.py``); the second worker imports ``topWords`` from here and exports it itself
(Option #2, ``reports.py``).
"""

import asyncio
import re
from collections import Counter

WORD = re.compile(r"[a-z']+")


def wordCount(text: str) -> int:
    """How many words ``text`` holds."""
    return len(WORD.findall(text.lower()))


def topWords(text: str, n: int = 3) -> list[tuple[str, int]]:
    """The ``n`` most frequent words of ``text`` with their counts, the most frequent first."""
    return Counter(WORD.findall(text.lower())).most_common(n)


async def shout(text: str, delay: float = 0.01) -> str:
    """``text`` in capitals, after a pause: an ``async`` function is exported like a plain one."""
    await asyncio.sleep(delay)
    return text.upper()
