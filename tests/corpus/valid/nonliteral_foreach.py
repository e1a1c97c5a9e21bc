"""foreach= given as a module constant instead of a string literal (Metaflow accepts it)."""

from metaflow import FlowSpec, step
NAME = "items"
class F(FlowSpec):
    @step
    def start(self):
        self.items = [1, 2]
        self.next(self.body, foreach=NAME)
    @step
    def body(self):
        self.next(self.join)
    @step
    def join(self, inputs):
        self.next(self.end)
    @step
    def end(self):
        pass
if __name__ == "__main__":
    F()
