"""The flows the run tests drive (language server and real editor): a foreach with two
Parameters, a step that fails for `divisor=0`, and a step that holds while `hold.flag`
exists (so a test can cancel a run mid-step without timing it); and HOLD_FLOW, three steps
whose middle one holds the same way, for runs that outlive their launcher."""

RUNS_FLOW = """
import os
import time

from metaflow import FlowSpec, Parameter, step


class RunsFlow(FlowSpec):
    width = Parameter("width", default=2, type=int, help="how many splits")
    divisor = Parameter("divisor", default=1, type=int)

    @step
    def start(self):
        self.items = list(range(self.width))
        self.next(self.square, foreach="items")

    @step
    def square(self):
        print("squaring", self.input)
        self.value = self.input * self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.total = sum(i.value for i in inputs)
        self.next(self.divide)

    @step
    def divide(self):
        if os.path.exists("hold.flag"):
            print("holding", flush=True)
            while os.path.exists("hold.flag"):
                time.sleep(0.05)
        self.ratio = self.total / self.divisor
        self.next(self.end)

    @step
    def end(self):
        print("ratio", self.ratio)


if __name__ == "__main__":
    RunsFlow()
"""

FAIL_LINE = 1 + RUNS_FLOW.lstrip().splitlines().index(
    "        self.ratio = self.total / self.divisor"
)  # 1-based, in the file as written with `.lstrip()`

HOLD_FLOW = """
import os
import time

from metaflow import FlowSpec, Parameter, step


class HoldFlow(FlowSpec):
    fail = Parameter("fail", default=False, type=bool)

    @step
    def start(self):
        self.x = 1
        self.next(self.hold)

    @step
    def hold(self):
        if os.path.exists("hold.flag"):
            print("holding", flush=True)
            while os.path.exists("hold.flag"):
                time.sleep(0.05)
        self.y = self.x + 1
        self.next(self.end)

    @step
    def end(self):
        if self.fail:
            raise ValueError("asked to fail")
        print("y is", self.y)


if __name__ == "__main__":
    HoldFlow()
"""
