from metaflow import FlowSpec, step
class F(FlowSpec):
    @step
    def start(self, inputs):  # expect: join-without-split
        self.next(self.end)
    @step
    def end(self):
        pass
if __name__ == "__main__":
    F()
