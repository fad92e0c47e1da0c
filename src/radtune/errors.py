"""Errors that name the offending input and say what to do."""


class InputRejected(Exception):
    """An input file that cannot be used; the message is one line, naming the file and the
    DICOM tag or field at fault, e.g. "x.dcm: (0028,1051) Window Width must be >= 1"."""


class ConfigError(Exception):
    """A parameter that is missing or invalid; the message names the key."""
