"""An existing module with a class and the original workerlib's encoder and decoder for it; unchanged."""


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __repr__(self):
        return f"Point({self.x}, {self.y})"


def pointEncoder(point):
    return [point.x, point.y]


def pointDecoder(data):
    return Point(*data)


def mirror(point):
    return Point(point.y, point.x)
