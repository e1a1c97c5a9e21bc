"""A switch inside one branch of a static split; both cases reach the join."""

from metaflow import FlowSpec, step
class F(FlowSpec):
    @step
    def start(self):
        self.next(self.a, self.b)
    @step
    def a(self):
        self.k = "x"
        self.next({"x": self.c, "y": self.d}, condition="k")
    @step
    def c(self):
        self.next(self.j)
    @step
    def d(self):
        self.next(self.j)
    @step
    def b(self):
        self.next(self.j)
    @step
    def j(self, inputs):
        self.next(self.end)
    @step
    def end(self):
        pass
if __name__ == "__main__":
    F()
