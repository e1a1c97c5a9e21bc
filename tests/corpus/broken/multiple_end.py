from metaflow import FlowSpec, step


class MultipleEndFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.a, self.b)

    @step(end=True)
    def a(self):  # expect: multiple-end-steps, missing-transition
        pass

    @step(end=True)
    def b(self):  # expect: multiple-end-steps, missing-transition
        pass


if __name__ == "__main__":
    MultipleEndFlow()
