from metaflow import FlowSpec, step


class SwitchOneCaseFlow(FlowSpec):
    @step
    def start(self):  # expect: switch-too-few-cases
        self.mode = "a"
        self.next({"a": self.end}, condition="mode")

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SwitchOneCaseFlow()
