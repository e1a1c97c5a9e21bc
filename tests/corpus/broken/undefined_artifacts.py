from metaflow import Config, FlowSpec, Parameter, step


class UndefinedFlow(FlowSpec):
    size = Parameter("size", default=2)
    cfg = Config("cfg", default_value={"k": 1})

    @step
    def start(self):
        self.rows = list(range(self.size))
        self.next(self.left, self.right)

    @step
    def left(self):
        self.model = self.cfg.k
        self.next(self.join)

    @step
    def right(self):
        print(self.model)  # expect: undefined-artifact
        self.groups = [1, 2]
        self.next(self.join)

    @step
    def join(self, inputs):
        self.merge_artifacts(inputs)
        self.next(self.prepare)

    @step
    def prepare(self):
        self.next(self.fan, foreach="grops")  # expect: unknown-foreach-artifact

    @step
    def fan(self):
        self.value = self.input + len(self.rows) + self.weights  # expect: undefined-artifact
        self.next(self.gather)

    @step
    def gather(self, inputs):
        self.next(self.decide)

    @step
    def decide(self):
        self.next({"a": self.end, "b": self.other}, condition="choice")  # expect: unknown-condition-artifact

    @step
    def other(self):
        self.next(self.end)

    @step
    def end(self):
        print(self.value)


if __name__ == "__main__":
    UndefinedFlow()
