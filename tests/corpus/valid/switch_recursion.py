"""A switch on an artifact, and a recursive step that loops on itself until done."""

from metaflow import Config, FlowSpec, Parameter, step


class SwitchFlow(FlowSpec):
    settings = Config("settings", default_value={"fast": "fast", "slow": "slow"})
    mode = Parameter("mode", default="fast")

    @step
    def start(self):
        self.route = self.mode
        self.next({"fast": self.fast, "slow": self.slow}, condition="route")

    @step
    def fast(self):
        self.result = "fast"
        self.next(self.refine)

    @step
    def slow(self):
        self.result = "slow"
        self.next(self.refine)

    @step
    def refine(self):
        self.rounds = getattr(self, "rounds", 0) + 1
        self.state = "again" if self.rounds < 3 else "done"
        self.next({"again": self.refine, "done": self.pick}, condition="state")

    @step
    def pick(self):
        self.choice = "a"
        self.next(
            {self.settings.fast: self.end, self.settings.slow: self.end},
            condition="choice",
        )

    @step
    def end(self):
        print(self.result, self.rounds)


if __name__ == "__main__":
    SwitchFlow()
