from metaflow import FlowSpec, step


class AmbiguousJoinFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step
    def a(self):
        self.mode = "x"
        self.next({"x": self.join, "y": self.extra}, condition="mode")

    @step
    def extra(self):
        self.next(self.join)

    @step
    def b(self):
        self.next(self.join)

    @step
    def join(self, inputs):  # expect: ambiguous-join
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    AmbiguousJoinFlow()
