"""A parallel (gang) split with num_parallel and a @parallel step."""

from metaflow import FlowSpec, parallel, step


class ParallelFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.train, num_parallel=2)

    @parallel
    @step
    def train(self):
        self.rank = 0
        self.next(self.gather)

    @step
    def gather(self, inputs):
        self.ranks = [i.rank for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        print(self.ranks)


if __name__ == "__main__":
    ParallelFlow()
