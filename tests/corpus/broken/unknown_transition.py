from metaflow import FlowSpec, step


class UnknownTransitionFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.trian)  # expect: unknown-transition

    @step
    def train(self):  # no orphan-step: the typo above strands it (said there)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    UnknownTransitionFlow()
