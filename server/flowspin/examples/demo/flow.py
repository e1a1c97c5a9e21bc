"""A small training flow used by `make demo` and the docs.

Run it once (`python flow.py run`), then spin any step: `flowspin spin flow.py train`.
"""

from metaflow import FlowSpec, Parameter, card, current, step
from metaflow.cards import Markdown, Table


class DemoFlow(FlowSpec):
    n_rows = Parameter("n_rows", default=20_000, help="rows of synthetic data")

    @step
    def start(self):
        import random

        rng = random.Random(0)
        self.xs = [rng.random() for _ in range(self.n_rows)]
        self.ys = [2.0 * x + rng.gauss(0, 0.1) for x in self.xs]
        self.alphas = [0.1, 0.5, 1.0]
        self.next(self.train, foreach="alphas")

    @step
    def train(self):
        self.alpha = self.input
        n = len(self.xs)
        mean_x = sum(self.xs) / n
        mean_y = sum(self.ys) / n
        cov = sum((x - mean_x) * (y - mean_y) for x, y in zip(self.xs, self.ys))
        var = sum((x - mean_x) ** 2 for x in self.xs) + self.alpha
        self.slope = cov / var
        self.next(self.pick)

    @step
    def pick(self, inputs):
        self.results = {inp.alpha: inp.slope for inp in inputs}
        self.best_alpha = min(self.results, key=lambda a: abs(self.results[a] - 2.0))
        self.merge_artifacts(inputs, include=["xs"])
        self.next(self.end)

    @card(type="blank", id="report")
    @step
    def end(self):
        current.card["report"].append(Markdown(f"# Best alpha: {self.best_alpha}"))
        rows = [[alpha, round(slope, 4)] for alpha, slope in sorted(self.results.items())]
        current.card["report"].append(Table(rows, headers=["alpha", "slope"]))
        print("best alpha", self.best_alpha)


if __name__ == "__main__":
    DemoFlow()
