from metaflow import FlowSpec, parallel, step


class ParallelNoJoinFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.train, num_parallel=2)

    @parallel
    @step
    def train(self):  # expect: parallel-not-followed-by-join
        self.next(self.after)

    @step
    def after(self):
        self.next(self.end)

    @step
    def end(self):  # expect: unjoined-split
        pass


if __name__ == "__main__":
    ParallelNoJoinFlow()
