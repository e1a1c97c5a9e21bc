from metaflow import FlowSpec, step


class StartIncomingFlow(FlowSpec):
    @step
    def start(self):  # expect: start-has-incoming
        self.next(self.middle)

    @step
    def middle(self):
        self.next(self.start)  # expect: cycle

    @step
    def end(self):  # expect: orphan-step
        pass


if __name__ == "__main__":
    StartIncomingFlow()
