"""Download one file over HTTP(S) into place, verified, never half-written.

The body streams into a temporary file next to the destination while its SHA-256 is computed; the
length is checked against Content-Length, the digest against the expected one (from our manifest, or
the hub's ``X-Linked-Etag``, which is the SHA-256 of LFS files), and only then is the file renamed
onto the destination (atomic on one filesystem). Two processes fetching the same file each write
their own temporary file and the last rename wins with identical content, so both succeed.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import os
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request

from keras_senet import _temporary

DEFAULT_TIMEOUT = 60.0  # seconds without a byte before giving up
_CHUNK = 1 << 20


class DownloadError(OSError):
    """A download failed or its content could not be verified. Nothing was written in place."""


def _is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url):
    """Allow ``https://`` anywhere and plain ``http://`` only to loopback hosts (local mirrors, tests)."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "https" and parsed.hostname:
        return url
    if parsed.scheme == "http" and parsed.hostname and _is_loopback(parsed.hostname):
        return url
    raise ValueError(f"{url!r}: only https:// URLs (or http:// to a loopback host such as 127.0.0.1) "
                     "are allowed for weights")


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to allowed URLs, and keep the hub's SHA-256 header: the hub sends
    ``X-Linked-Etag`` on its redirect to the CDN, not on the CDN's response."""

    def __init__(self):
        self.linked_etag = None

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        check_url(newurl)
        self.linked_etag = headers.get("X-Linked-Etag") or self.linked_etag
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _progress(done, total, label):
    if not sys.stderr.isatty():
        return
    total_text = f"/{total / 1e6:.1f}" if total else ""
    sys.stderr.write(f"\r{label}: {done / 1e6:.1f}{total_text} MB")
    sys.stderr.flush()


def download(url, destination, *, sha256=None, timeout=DEFAULT_TIMEOUT, label=None):
    """Fetch `url` to `destination` and return the SHA-256 of what was written.

    Args:
        url: https:// URL (http:// only for loopback hosts).
        destination: final path; its folder is created. An existing file is replaced only by a
            complete, verified download.
        sha256: expected hex digest, or None when unknown (the hub's X-Linked-Etag is used if sent).
        timeout: seconds to wait for the connection and for each read.
        label: name shown in the progress line (terminals only).

    Raises:
        DownloadError: HTTP error (404 ...), no connection, timeout, truncated body or digest mismatch.
            The message names the URL and what to do.
    """
    check_url(url)
    destination = os.fspath(destination)
    os.makedirs(os.path.dirname(destination) or ".", exist_ok=True)
    request = urllib.request.Request(url, headers={"User-Agent": "keras-senet"})
    partial = _temporary.make_file(".partial-", os.path.dirname(destination) or ".")
    try:
        with open(partial, "wb") as out:
            redirects = _CheckedRedirects()
            try:
                response = urllib.request.build_opener(redirects).open(request, timeout=timeout)
            except urllib.error.HTTPError as error:
                raise DownloadError(f"{url}: HTTP {error.code} {error.reason}. Check the URL or tag; "
                                    "to work offline, put the file in place yourself.") from None
            except ValueError as error:  # a redirect to a URL that check_url refuses
                raise DownloadError(f"{url}: refused redirect ({error})") from None
            except (urllib.error.URLError, socket.timeout, OSError) as error:
                reason = getattr(error, "reason", error)
                if isinstance(reason, (socket.timeout, TimeoutError)):
                    raise DownloadError(f"{url}: no answer within {timeout:g} s (the server is stalled or "
                                        "very slow). Try again later, or work offline with a local "
                                        "file.") from None
                raise DownloadError(f"{url}: cannot connect ({reason}). Check the network, or work "
                                    "offline with a local file.") from None
            with response:
                expected_length = response.headers.get("Content-Length")
                expected_length = int(expected_length) if expected_length else None
                hub_sha256 = (response.headers.get("X-Linked-Etag") or redirects.linked_etag or "")
                hub_sha256 = hub_sha256.strip('"').lower()
                digest, done = hashlib.sha256(), 0
                try:
                    for block in iter(lambda: response.read(_CHUNK), b""):
                        out.write(block)
                        digest.update(block)
                        done += len(block)
                        _progress(done, expected_length, label or os.path.basename(destination))
                except (socket.timeout, TimeoutError, OSError, http.client.HTTPException) as error:
                    raise DownloadError(f"{url}: download interrupted after {done} bytes ({error}). "
                                        "Try again.") from None
        if expected_length is not None and done != expected_length:
            raise DownloadError(f"{url}: truncated download: received {done} of {expected_length} bytes. "
                                "Try again.")
        actual = digest.hexdigest()
        wanted = (sha256 or (hub_sha256 if len(hub_sha256) == 64 else "")).lower()
        if wanted and actual != wanted:
            raise DownloadError(f"{url}: SHA-256 mismatch: expected {wanted}, got {actual}. The file is "
                                "corrupt or not the published one; it was not used.")
        os.replace(partial, destination)
        return actual
    finally:
        if os.path.exists(partial):
            os.remove(partial)
