"""A flow inside a package (run as `python -m app.flow`), built with relative imports from a
base flow and a mixin of the same package; the foreach body and its join are its own."""

from metaflow import step

from .base import BaseFlow
from .mixins import ScoreMixin


class PackagedFlow(BaseFlow, ScoreMixin):
    @step
    def fan(self):
        self.row = self.input * 2
        self.next(self.gather)

    @step
    def gather(self, inputs):
        self.rows = [i.row for i in inputs]
        self.next(self.score)


if __name__ == "__main__":
    PackagedFlow()
