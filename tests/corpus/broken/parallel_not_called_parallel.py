from metaflow import FlowSpec, parallel, step


class ParallelNotCalledFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.train)

    @parallel
    @step
    def train(self):  # expect: parallel-not-called-parallel
        self.next(self.join)

    @step
    def join(self, inputs):  # expect: join-without-split
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ParallelNotCalledFlow()
