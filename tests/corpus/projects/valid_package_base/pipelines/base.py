from metaflow import FlowSpec, step

from .mixins import LoadMixin


class BaseFlow(FlowSpec, LoadMixin):
    @step
    def start(self):
        self.seed = 7
        self.next(self.load)

    @step
    def end(self):
        print(self.model)
