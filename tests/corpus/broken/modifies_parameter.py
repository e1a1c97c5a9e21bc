"""Assigning a Parameter in a step: Metaflow's check passes, the run fails ("Flow level
attributes and Parameters are not modifiable")."""

from metaflow import FlowSpec, Parameter, step


class ModifiesParameterFlow(FlowSpec):
    lr = Parameter("lr", default=0.1)

    @step
    def start(self):
        self.lr = self.lr / 10  # expect: modifies-parameter
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ModifiesParameterFlow()
