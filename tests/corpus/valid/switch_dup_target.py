"""A switch with integer keys whose cases lead to the same step."""

from metaflow import FlowSpec, step
class F(FlowSpec):
    @step
    def start(self):
        self.k = 1
        self.next({1: self.end, 2: self.end}, condition="k")
    @step
    def end(self):
        pass
if __name__ == "__main__":
    F()
