"""A plain module with no flow: no diagnostics at all."""


class Thing:
    def next(self):
        self.x = self.y
        return self.x


def main():
    return Thing()
