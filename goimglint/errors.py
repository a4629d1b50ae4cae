"""Errors that end a run with exit code 2 and one clear line."""


class InputError(Exception):
    """The input cannot be read as an image (bad archive, missing blob, bad JSON...)."""


class UsageError(Exception):
    """The command line or config asks for something impossible."""


class PathLoopError(Exception):
    """A symlink chain inside the image loops or is longer than 40 hops (ELOOP)."""
