from metaflow import FlowSpec, step


class EndTransitionFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        print("done")
        self.next()  # expect: end-has-transition


if __name__ == "__main__":
    EndTransitionFlow()
