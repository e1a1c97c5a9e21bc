"""The join lacks `inputs`: Metaflow reports at `end` (where its walk finds the split still
open); flowspin reports at the step where the branches meet, where the fix goes."""

from metaflow import FlowSpec, step


class NoInputsFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.next(self.join)

    @step
    def b(self):
        self.next(self.join)

    @step
    def join(self):  # expect: unjoined-split
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    NoInputsFlow()
