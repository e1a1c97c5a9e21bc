from metaflow import FlowSpec, step


class MissingSelfFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.work)

    @step
    def work():  # expect: missing-self-argument, missing-transition
        pass

    @step
    def end(self):  # not an orphan: 'work' lacks self.next() (said there)
        pass


if __name__ == "__main__":
    MissingSelfFlow()
