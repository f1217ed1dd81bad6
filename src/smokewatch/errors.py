"""Errors a user can cause and fix.

The CLI prints these as one clear line (no traceback) and exits with status 2; anything else
is a bug and keeps its traceback. Each wing raises a subclass so callers can catch narrowly.
"""

from __future__ import annotations


class SmokewatchError(Exception):
    """Base class for user-facing errors: bad input, missing files, unreachable sources."""


class SmokewatchWarning(UserWarning):
    """Something a user should know about their input or setup that does not stop the work
    (alerts sent over plain http, a camera re-aimed); the command prints it as one line."""


class MetadataError(SmokewatchError, ValueError):
    """A metadata file (RISE JSON or CSV) is malformed; the message names the record and field."""


class ClipNameError(SmokewatchError, ValueError):
    """A clip file name does not follow the RISE naming convention."""


class VideoError(SmokewatchError):
    """A video file cannot be decoded or written; the message names the file."""


class ViewsError(SmokewatchError, ValueError):
    """A camera views file is malformed or lacks a view that was asked for."""


class DownloadError(SmokewatchError):
    """A clip could not be fetched or verified."""
