"""One exception type for every bad input, so CLIs can print its single sentence and exit 2."""


class InputError(ValueError):
    """A bad input: the message is one sentence naming the input and the fix."""
