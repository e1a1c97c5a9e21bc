"""Cards with arguments, stacked decorators, retries, configs and an include file."""

import metaflow
from metaflow import Config, FlowSpec, Parameter, card, current, retry, step, timeout


def helper(x):
    return x * 2


class CardsFlow(metaflow.FlowSpec):
    """Exercise decorators and parameters."""

    config = Config("config", default_value={"size": 3})
    size = Parameter("size", default=3, type=int, help="how many rows")
    THRESHOLD = 0.5

    @card(type="blank", id="summary")
    @retry(times=3)
    @step
    def start(self):
        self.rows = [helper(i) for i in range(self.size)]
        self.limit = self.config.size + self.THRESHOLD
        self.total: int = 0
        self.total += len(self.rows)
        self.a, (self.b, self.c) = 1, (2, 3)
        current.card["summary"].append(metaflow.cards.Markdown("# start"))
        self.next(self.process)

    @card
    @timeout(seconds=60)
    @step
    def process(self):
        self.doubled = self.scale(self.rows)
        self._remember(len(self.doubled))
        print(self.label, self.a, self.b, self.c, self.limit, self.total)
        self.next(self.end)

    @property
    def label(self):
        return "cards"

    def scale(self, rows):
        return [r * 2 for r in rows]

    def _remember(self, value):
        self.remembered = value

    @step
    def end(self):
        print(self.doubled, self.remembered, self.name if hasattr(self, "name") else "")


class Unrelated:
    def method(self):
        self.x = 1


if __name__ == "__main__":
    CardsFlow()
