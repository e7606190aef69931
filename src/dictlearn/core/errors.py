"""The two failures a user can fix, each one line naming the key or file and the remedy."""


class ParamsError(ValueError):
    """params.yaml (or a profile) is not what the pipeline expects; the message names the key."""


class InputError(ValueError):
    """A missing or corrupt input file; the message names the file and what restores it."""
