"""A recursive switch step inside a foreach, converging before the join."""

from metaflow import FlowSpec, step
class F(FlowSpec):
    @step
    def start(self):
        self.items = [1, 2]
        self.next(self.body, foreach="items")
    @step
    def body(self):
        self.n = self.input
        self.next(self.loop)
    @step
    def loop(self):
        self.n -= 1
        self.state = "go" if self.n > 0 else "stop"
        self.next({"go": self.loop, "stop": self.after}, condition="state")
    @step
    def after(self):
        self.next(self.join)
    @step
    def join(self, inputs):
        self.next(self.end)
    @step
    def end(self):
        pass
if __name__ == "__main__":
    F()
