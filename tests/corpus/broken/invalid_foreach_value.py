"""foreach= over an artifact that is a number: "not iterable" at run time."""

from metaflow import FlowSpec, step


class ForeachNumberFlow(FlowSpec):
    @step
    def start(self):
        self.items = 3  # expect: invalid-foreach-value
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ForeachNumberFlow()
