"""A main script that dies: the harness must fail the test and show this traceback."""


def computeRatio(total, count):
    return total / count


computeRatio(1, 0)
