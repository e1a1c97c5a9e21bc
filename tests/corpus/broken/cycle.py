from metaflow import FlowSpec, step


class CycleFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.a)

    @step
    def a(self):
        self.next(self.b)

    @step
    def b(self):
        self.next(self.a)  # expect: cycle

    @step
    def end(self):  # not an orphan: the loop never exits (said there)
        pass


if __name__ == "__main__":
    CycleFlow()
