"""The worker's src: the original's [exports] and [adapters] sections, written as Python (Option #1)."""

from shapes import Point, pointDecoder, pointEncoder

from workerlib import adapter, exportFrom

adapter(Point, encode=pointEncoder, decode=pointDecoder)

exportFrom("usermath", "add", "mean", "slowSplit", "fail")
exportFrom("shapes", "mirror")
