from metaflow import FlowSpec, step


class MissingStartFlow(FlowSpec):  # expect: missing-start-step
    @step
    def begin(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    MissingStartFlow()
