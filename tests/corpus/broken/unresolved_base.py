"""A base from an installed package (here the standard library): flowspin cannot read it, so
it says once that checks needing the whole flow are limited."""

from string import Formatter

from metaflow import FlowSpec, step


class FormattedFlow(FlowSpec, Formatter):  # expect: unresolved-base
    @step
    def start(self):
        self.text = self.format("{0}", 1)
        self.next(self.end)

    @step
    def end(self):
        print(self.text)


if __name__ == "__main__":
    FormattedFlow()
