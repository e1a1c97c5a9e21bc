from metaflow import FlowSpec, step


class StartIncomingFlow(FlowSpec):
    @step
    def start(self):  # expect: start-has-incoming
        self.next(self.middle)

    @step
    def middle(self):
        self.next(self.start)  # expect: cycle

    @step
    def end(self):  # not an orphan: the loop never exits (said there)
        pass


if __name__ == "__main__":
    StartIncomingFlow()
