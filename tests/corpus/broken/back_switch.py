from metaflow import FlowSpec, step
class F(FlowSpec):
    @step
    def start(self):
        self.next(self.a)
    @step
    def a(self):
        self.x = 1
        self.next(self.b)
    @step
    def b(self):
        self.c = "again"
        self.next({"again": self.a, "done": self.end}, condition="c")  # expect: cycle
    @step
    def end(self):
        pass
if __name__ == "__main__":
    F()
