from metaflow import FlowSpec, step


class MissingTransitionFlow(FlowSpec):
    @step
    def start(self):
        self.x = 1
        self.next(self.check)

    @step
    def check(self):  # expect: missing-transition
        if self.x > 0:
            self.next(self.end)  # expect: misplaced-transition
        else:
            self.next(self.end)  # expect: misplaced-transition

    @step
    def end(self):  # not an orphan: the self.next() calls above are misplaced
        pass


if __name__ == "__main__":
    MissingTransitionFlow()
