"""Temporary files and folders that are moved into place when complete: created with the user's umask
(``tempfile`` makes them private, 0600 / 0700, which a shared cache or output folder must not inherit),
and named after their owner process, so that the next run can sweep those of a killed process.

Names look like ``<prefix><host>.<pid>-<random><suffix>``: a temporary of this host whose process is
gone is removed at once; one of another host (a cache on a network drive) or without an owner in its
name only once it is older than `STALE_SECONDS`.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
import time

STALE_SECONDS = 24 * 3600  # a temporary older than this was left by a killed process, whoever owned it
_OWNER = re.compile(r"^(?P<host>[A-Za-z0-9_\-]+)\.(?P<pid>\d+)-")


def _host():
    return re.sub(r"[^A-Za-z0-9_\-]", "_", socket.gethostname()) or "host"


def owner_tag():
    """``<host>.<pid>-``: the part of a temporary's name that says which process made it."""
    return f"{_host()}.{os.getpid()}-"


def umask():
    """The process's umask, read without changing it where the platform allows."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (the only portable way to read it)
    os.umask(mask)
    return mask


def apply_umask(path):
    """Give `path` the mode a plain ``open()`` / ``mkdir()`` would have: 0666 / 0777 less the umask."""
    base = 0o777 if os.path.isdir(path) else 0o666
    os.chmod(path, base & ~umask())


def make_dir(prefix, folder, suffix=""):
    """A new temporary folder in `folder`, named with its owner, with the umask's mode."""
    path = tempfile.mkdtemp(prefix=prefix + owner_tag(), suffix=suffix, dir=folder)
    apply_umask(path)
    return path


def make_file(prefix, folder, suffix=""):
    """A new, closed, empty temporary file in `folder`, named with its owner, with the umask's mode."""
    fd, path = tempfile.mkstemp(prefix=prefix + owner_tag(), suffix=suffix, dir=folder)
    os.close(fd)
    apply_umask(path)
    return path


def _owner_is_gone(rest):
    """True when the name after the prefix says a process of this host made it and it is not running."""
    match = _OWNER.match(rest)
    if not match or match.group("host") != _host():
        return False
    pid = int(match.group("pid"))
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # another user's live process
        return False
    return False


def sweep(folder, prefixes, suffix="", max_age=STALE_SECONDS, now=None):
    """Remove the temporaries (names starting with one of `prefixes`, ending with `suffix`) in `folder`
    whose owner process is gone, or that are older than `max_age` seconds. Returns the removed paths."""
    now = now or time.time()
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        prefix = next((p for p in prefixes if name.startswith(p)), None)
        if prefix is None or not name.endswith(suffix):
            continue
        path = os.path.join(folder, name)
        try:
            if not (_owner_is_gone(name[len(prefix):]) or now - os.lstat(path).st_mtime > max_age):
                continue
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.remove(path)
            removed.append(path)
        except OSError:
            pass  # removed by a concurrent sweep, or not ours to remove
    return removed
