from metaflow import FlowSpec, step


class BaseFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.train)

    @step
    def end(self):
        pass
