from metaflow import FlowSpec, step


class MissingEndFlow(FlowSpec):  # expect: missing-end-step
    @step
    def start(self):
        self.next(self.finish)

    @step
    def finish(self):  # expect: missing-transition
        pass


if __name__ == "__main__":
    MissingEndFlow()
