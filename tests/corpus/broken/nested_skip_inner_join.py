from metaflow import FlowSpec, step
class F(FlowSpec):
    @step
    def start(self):
        self.xs = [1]
        self.next(self.outer, foreach="xs")
    @step
    def outer(self):
        self.ys = [1]
        self.next(self.inner, foreach="ys")
    @step
    def inner(self):
        self.next(self.join)
    @step
    def join(self, inputs):
        self.next(self.end)
    @step
    def end(self):  # expect: unjoined-split
        pass
if __name__ == "__main__":
    F()
