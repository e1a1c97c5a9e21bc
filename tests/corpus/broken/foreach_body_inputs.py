"""`inputs` added to the first step of a foreach body: reported on that step only (not as an
empty foreach at the split plus a join without split further down)."""

from metaflow import FlowSpec, step


class ForeachInputsFlow(FlowSpec):
    @step
    def start(self):
        self.items = [1, 2]
        self.next(self.body, foreach="items")

    @step
    def body(self, inputs):  # expect: empty-foreach
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ForeachInputsFlow()
