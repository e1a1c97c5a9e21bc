"""A mistyped target in a mixin's step (another file): reported on the flow's class, naming
the mixin's file and line."""

from metaflow import FlowSpec, step

from .mixins import ReportMixin


class ReportFlow(FlowSpec, ReportMixin):  # expect: unknown-transition
    @step
    def start(self):
        self.rows = [1, 2]
        self.next(self.report)

    @step
    def end(self):
        print(self.summary)


if __name__ == "__main__":
    ReportFlow()
