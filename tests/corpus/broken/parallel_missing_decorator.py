from metaflow import FlowSpec, step


class ParallelMissingFlow(FlowSpec):
    @step
    def start(self):  # expect: parallel-missing-decorator
        self.next(self.train, num_parallel=2)

    @step
    def train(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ParallelMissingFlow()
