"""Errors that name the offending input and say what to do."""

from pathlib import Path


class InputRejected(Exception):
    """An input file that cannot be used; the message is one line, naming the file and the
    DICOM tag or field at fault, e.g. "x.dcm: (0028,1051) Window Width must be >= 1"."""


class ConfigError(Exception):
    """A parameter that is missing or invalid; the message names the key."""


def named_as(message: str, path: str | Path, shown: str) -> str:
    """A one-line refusal that names `path` by its base name (`x.dcm: ...`, as the pixel
    readers write it) renamed to `shown`, the name the user knows the file by (the path as
    typed on the command line, or relative to the raw folder). Other messages get the prefix."""
    prefix = f"{Path(path).name}: "
    body = message[len(prefix) :] if message.startswith(prefix) else message
    return f"{shown}: {body}"
