from metaflow import FlowSpec, step


class UnknownTransitionFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.trian)  # expect: unknown-transition

    @step
    def train(self):  # expect: orphan-step
        self.next(self.end)

    @step
    def end(self):  # expect: orphan-step
        pass


if __name__ == "__main__":
    UnknownTransitionFlow()
