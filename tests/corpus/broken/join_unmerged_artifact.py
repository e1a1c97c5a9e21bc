"""A join reading an artifact of its inputs without merging it: AttributeError at run time."""

from metaflow import FlowSpec, step


class JoinUnmergedFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.accuracy = 0.9
        self.next(self.join)

    @step
    def b(self):
        self.accuracy = 0.8
        self.next(self.join)

    @step
    def join(self, inputs):
        self.winner = self.accuracy  # expect: join-unmerged-artifact
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    JoinUnmergedFlow()
