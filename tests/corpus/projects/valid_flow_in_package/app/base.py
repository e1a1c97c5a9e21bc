from metaflow import FlowSpec, step


class BaseFlow(FlowSpec):
    @step
    def start(self):
        self.rows = [0.2, 0.7, 0.9]
        self.next(self.fan, foreach="rows")

    @step
    def end(self):
        print(self.passed)
