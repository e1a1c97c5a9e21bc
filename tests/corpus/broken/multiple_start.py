from metaflow import FlowSpec, step


class MultipleStartFlow(FlowSpec):
    @step(start=True)
    def first(self):  # expect: multiple-start-steps
        self.next(self.end)

    @step(start=True)
    def second(self):  # expect: multiple-start-steps
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    MultipleStartFlow()
