"""A command that fails as a test asks: the CLI tests' stand-in for a broken plug-in."""


class FailingCommand:
    """An entry point of "pipsim.commands" whose command `fail` raises `error`."""

    def __init__(self, error):
        self.error = error

    def load(self):
        def register(sub):
            def fail(args):
                raise self.error
            sub.add_parser("fail").set_defaults(func=fail)
        return register
