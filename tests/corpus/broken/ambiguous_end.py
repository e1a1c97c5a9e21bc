from metaflow import FlowSpec, step


class AmbiguousEndFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):  # expect: ambiguous-end-step, missing-transition
        pass

    @step(end=True)
    def finish(self):  # not an orphan: 'end' lacks self.next() (said there)
        pass


if __name__ == "__main__":
    AmbiguousEndFlow()
