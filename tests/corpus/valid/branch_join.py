"""Static split into two branches and a join that merges artifacts."""

from metaflow import FlowSpec, Parameter, step


class BranchJoinFlow(FlowSpec):
    alpha = Parameter("alpha", default=0.5, help="learning rate")
    label = Parameter("label", default="run", type=str)

    @step
    def start(self):
        self.data = [1, 2, 3]
        self.next(self.left, self.right)

    @step
    def left(self):
        self.score = sum(self.data) * self.alpha
        self.next(self.join)

    @step
    def right(self):
        self.score = max(self.data)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.best = max(inp.score for inp in inputs)
        self.merge_artifacts(inputs, exclude=["score"])
        self.next(self.end)

    @step
    def end(self):
        print(self.label, self.best, self.data)


if __name__ == "__main__":
    BranchJoinFlow()
