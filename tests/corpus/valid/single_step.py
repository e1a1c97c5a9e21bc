"""A single-step flow: its only step is both start and end."""

from metaflow import FlowSpec, step


class SingleStepFlow(FlowSpec):
    @step
    def only(self):
        self.value = 1
        print(self.value)


if __name__ == "__main__":
    SingleStepFlow()
