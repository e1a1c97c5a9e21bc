from metaflow import FlowSpec, step


class DuplicateFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):  # expect: duplicate-step
        print("first")

    @step
    def end(self):
        print("second")


if __name__ == "__main__":
    DuplicateFlow()
