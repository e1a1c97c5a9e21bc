"""Several independent problems: all of them are reported in one pass."""

from metaflow import FlowSpec, step


class ManyProblemsFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.load, self.fetch)

    @step
    def load(self):
        print(self.total)  # expect: undefined-artifact
        self.next(self.mege)  # expect: unknown-transition

    @step
    def fetch(self):  # expect: missing-transition
        self.rows = 1

    @step
    def merge(self, inputs):
        self.next(self.end)

    @step
    def Report(self):  # expect: invalid-step-name, orphan-step
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ManyProblemsFlow()
