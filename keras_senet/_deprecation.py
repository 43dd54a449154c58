"""Old argument spellings kept for one release (listed in CHANGELOG.md), each with a DeprecationWarning."""

from __future__ import annotations

import warnings

def renamed(function, kwargs, old, new, value):
    """`value` (the caller's value of `new`), or the value given under the deprecated keyword `old`
    (taken out of `kwargs`, with a DeprecationWarning)."""
    if old not in kwargs:
        return value
    warnings.warn(f"{function}({old}=...) is deprecated; use {new}=... (the old name goes in the next release).",
                  DeprecationWarning, stacklevel=3)
    return kwargs.pop(old)


def reject_unknown(function, kwargs):
    if kwargs:
        raise TypeError(f"{function}() got unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
