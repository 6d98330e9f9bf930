"""Exceptions raised by ``fer_lib``."""


class DataError(ValueError):
    """A data file or folder is missing, malformed or holds unknown labels.

    The message always names the file or folder and the problem.
    """
