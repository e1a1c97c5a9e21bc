from metaflow import FlowSpec, step


class ReservedNameFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.input)

    @step
    def input(self):  # expect: reserved-step-name
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ReservedNameFlow()
