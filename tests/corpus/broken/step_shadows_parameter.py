from metaflow import FlowSpec, Parameter, step


class ShadowFlow(FlowSpec):
    train = Parameter("train", default=1)
    rate = Parameter("learning_rate", default=0.1)

    @step
    def start(self):
        self.next(self.train)

    @step
    def train(self):  # expect: step-shadows-parameter
        self.next(self.learning_rate)

    @step
    def learning_rate(self):  # expect: step-shadows-parameter
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ShadowFlow()
