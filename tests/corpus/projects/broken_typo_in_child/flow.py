"""A mistyped self.next target in a flow whose start and end live in a sibling module."""

from base import BaseFlow
from metaflow import step


class TypoFlow(BaseFlow):
    @step
    def train(self):
        self.next(self.ennd)  # expect: unknown-transition


if __name__ == "__main__":
    TypoFlow()
