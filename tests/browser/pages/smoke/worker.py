from workerlib import WorkerService


class Echo(WorkerService):
    def echo(self, value):
        return value

    async def add(self, a, b=2):
        return a + b
