"""Start and end chosen by @step(start=True) / @step(end=True) instead of their names."""

from metaflow import FlowSpec, step


class AnnotatedFlow(FlowSpec):
    @step(start=True)
    def begin(self):
        self.xs = [1, 2]
        self.next(self.work, foreach="xs")

    @step
    def work(self):
        self.y = self.input * 2
        self.next(self.gather)

    @step
    def gather(self, inputs):
        self.ys = [i.y for i in inputs]
        self.next(self.finish)

    @step(end=True)
    def finish(self):
        print(self.ys)


if __name__ == "__main__":
    AnnotatedFlow()
