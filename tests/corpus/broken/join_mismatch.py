from metaflow import FlowSpec, step


class JoinMismatchFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.a, self.b, self.c)

    @step
    def a(self):
        self.next(self.join)

    @step
    def b(self):
        self.next(self.join)

    @step
    def c(self):
        self.next(self.other)

    @step
    def join(self, inputs):  # expect: join-mismatch
        self.next(self.other)

    @step
    def other(self, inputs):  # expect: join-mismatch, join-without-split, cross-join
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    JoinMismatchFlow()
