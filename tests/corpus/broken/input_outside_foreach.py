"""self.input outside a foreach body is None."""

from metaflow import FlowSpec, step


class InputOutsideFlow(FlowSpec):
    @step
    def start(self):
        self.item = self.input  # expect: input-outside-foreach
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    InputOutsideFlow()
