from metaflow import FlowSpec, step


class SyntaxErrorFlow(FlowSpec):
    @step
    def start(self):
        self.next(self.end  # expect: syntax-error

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SyntaxErrorFlow()
