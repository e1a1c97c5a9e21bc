from metaflow import Parameter, step


class ScoreMixin:
    threshold = Parameter("threshold", default=0.5)

    @step
    def score(self):
        self.passed = [r for r in self.rows if r > self.threshold]
        self.next(self.end)
