"""The base flow's first step is not called start (nor marked @step(start=True))."""

from base import BaseFlow
from metaflow import step


class RenamedFlow(BaseFlow):  # expect: missing-start-step
    @step
    def train(self):
        self.next(self.end)


if __name__ == "__main__":
    RenamedFlow()
