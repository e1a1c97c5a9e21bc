"""Two flows in one file; steps inherited from base classes defined here."""

from metaflow import FlowSpec, Parameter, step


class LoadMixin:
    @step
    def load(self):
        self.rows = list(range(self.count))
        self.next(self.train)


class BaseFlow(FlowSpec):
    count = Parameter("count", default=4)

    @step
    def start(self):
        self.seed = 7
        self.next(self.load)

    @step
    def end(self):
        print(self.model)


class TrainFlow(BaseFlow, LoadMixin):
    @step
    def train(self):
        self.model = sum(self.rows) + self.seed
        self.next(self.end)


class OtherFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    TrainFlow()
