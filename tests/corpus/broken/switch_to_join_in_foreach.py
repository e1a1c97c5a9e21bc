from metaflow import FlowSpec, step
class F(FlowSpec):
    @step
    def start(self):
        self.xs = [1]
        self.next(self.body, foreach="xs")
    @step
    def body(self):
        self.k = "a"
        self.next({"a": self.join, "b": self.other}, condition="k")
    @step
    def other(self):
        self.next(self.join)
    @step
    def join(self, inputs):  # expect: ambiguous-join
        self.next(self.end)
    @step
    def end(self):
        pass
if __name__ == "__main__":
    F()
