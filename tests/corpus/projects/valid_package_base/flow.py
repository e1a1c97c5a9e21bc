"""A flow built from a base flow and a mixin of a package next to it (relative imports inside
the package, a re-export in its __init__.py): the graph spans all three files."""

from metaflow import Parameter, step

from pipelines import BaseFlow


class TrainFlow(BaseFlow):
    scale = Parameter("scale", default=2)

    @step
    def train(self):
        self.model = sum(self.rows) * self.scale + self.seed
        self.next(self.end)


if __name__ == "__main__":
    TrainFlow()
