"""A foreach inside a foreach, each closed by its own join."""

from metaflow import FlowSpec, step


class NestedForeachFlow(FlowSpec):
    @step
    def start(self):
        self.groups = ["a", "b"]
        self.next(self.outer, foreach="groups")

    @step
    def outer(self):
        self.group = self.input
        self.items = [1, 2, 3]
        self.next(self.inner, foreach="items")

    @step
    def inner(self):
        self.value = f"{self.group}{self.input}"
        self.position = self.index
        self.next(self.inner_join)

    @step
    def inner_join(self, inputs):
        self.values = [inp.value for inp in inputs]
        self.next(self.outer_join)

    @step
    def outer_join(self, inputs):
        self.all_values = [v for inp in inputs for v in inp.values]
        self.next(self.end)

    @step
    def end(self):
        print(self.all_values, self.foreach_stack())


if __name__ == "__main__":
    NestedForeachFlow()
