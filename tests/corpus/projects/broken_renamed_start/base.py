from metaflow import FlowSpec, step


class BaseFlow(FlowSpec):
    @step
    def begin(self):
        self.next(self.train)

    @step
    def end(self):
        pass
