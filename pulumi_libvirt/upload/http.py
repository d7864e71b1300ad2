"""An HTTP(S) URL as an image source, resumed with Range requests after a dropped connection.

``Accept-Encoding: identity``; a dropped connection is resumed with ``Range: bytes=N-`` into
the *same* libvirt stream (bounded retries, exponential backoff; any byte received resets the
count); a server that ignores Range is re-read from byte 0 with the first N bytes discarded; a
changed ETag or length during the download is an error. Request headers (auth tokens) go with
every request and never appear in messages; URL queries and credentials are hidden too.
"""

from __future__ import annotations

import http.client
import re
import socket
import ssl
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3

from .errors import TransferError
from .formats import HEAD_SIZE, ImageInfo, sniff_format, virtual_size
from .source import CHUNK_SIZE, Source
from .sparse import Item


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff for HTTP reads.

    ``attempts`` counts consecutive failures without progress; any byte received resets it.
    ``sleep`` is injectable so tests run fast; by default the wait ends early when the upload
    is cancelled.
    """

    attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 8.0
    sleep: Callable[[float], None] | None = field(default=None, compare=False)

    def delay(self, failure: int) -> float:
        """Delay before retry number ``failure`` (1-based)."""
        return min(self.backoff * (2 ** (failure - 1)), self.max_backoff)


class _Transient(Exception):
    """A retryable HTTP problem (network error, 5xx, short body)."""


_TRANSPORT_ERRORS = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
    _Transient,
)
_CONTENT_RANGE_RE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.I)


class HttpSource(Source):
    """An HTTP(S) URL, read with ``requests`` and resumed with Range after a dropped connection."""

    def __init__(
        self,
        url: str,
        expected_sha256: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        chunk_size: int = CHUNK_SIZE,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] = (15.0, 60.0),
        session: requests.Session | None = None,
    ) -> None:
        super().__init__(expected_sha256, chunk_size)
        self.url = url
        self.description = _display_url(url)
        self._headers = {
            k: v
            for k, v in (headers or {}).items()
            if k.lower() not in ("range", "if-range", "accept-encoding")
        }
        self._retry = retry or RetryPolicy()
        self._timeout = timeout
        self._own_session = session is None
        self._session = session or requests.Session()
        self._resp: requests.Response | None = None
        self._validator: str | None = None  # strong ETag or Last-Modified, for If-Range
        self._etag: str | None = None
        self._decode = False
        self._pos = 0  # image bytes handed out so far
        self._skip = 0  # bytes still to discard after a server ignored Range
        self._failures = 0
        self._resumes = 0
        #: how many times the server ignored a Range request (we started over)
        self.restarts = 0
        self.size = None
        try:
            self._with_retries(self._connect)
            head = self._read_head()
        except BaseException:
            self.close()
            raise
        self._head = head
        self.format = sniff_format(head)
        self.virtual_size = virtual_size(head)

    @property
    def resumes(self) -> int:
        return self._resumes

    # -- connection handling
    def _request(self, headers: dict[str, str]) -> requests.Response:
        try:
            return self._session.get(self.url, headers=headers, stream=True, timeout=self._timeout)
        except requests.exceptions.SSLError as e:  # a ConnectionError, but not worth retrying
            raise TransferError(f"GET {self.description} failed: {_describe(e)}") from e
        except (requests.ConnectionError, requests.Timeout) as e:
            raise _Transient(_describe(e)) from e
        except requests.RequestException as e:  # bad URL, too many redirects, ...
            raise TransferError(f"GET {self.description} failed: {_describe(e)}") from e

    def _connect(self) -> None:
        """(Re)open the body at the current position; set ``_resp``."""
        start = self._pos
        headers = dict(self._headers)
        headers["Accept-Encoding"] = "identity"
        if start and not self._decode:  # Range offsets would not match decoded bytes
            headers["Range"] = f"bytes={start}-"
            if self._validator:
                headers["If-Range"] = self._validator
        resp = self._request(headers)
        try:
            self._check_response(resp, start)
        except BaseException:
            resp.close()
            raise
        self._resp = resp

    def _check_response(self, resp: requests.Response, start: int) -> None:
        code = resp.status_code
        status = f"{code} {resp.reason or ''}".rstrip()
        if code >= 500 or code in (408, 429):
            raise _Transient(f"the server answered {status}")
        if code not in (200, 206) or (code == 206 and not start):
            raise TransferError(f"GET {self.description} returned {status}")
        encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
        length = _int_or_none(resp.headers.get("Content-Length"))
        etag = resp.headers.get("ETag")
        if not start:
            self._decode = encoding not in ("", "identity")
            self.size = None if self._decode else length
            self._etag = etag
            if etag and not etag.startswith("W/"):
                self._validator = etag
            elif resp.headers.get("Last-Modified"):
                self._validator = resp.headers["Last-Modified"]
            return
        if code == 206:
            match = _CONTENT_RANGE_RE.match(resp.headers.get("Content-Range", ""))
            total = match.group(3) if match else None
            if (
                not match
                or int(match.group(1)) != start
                or (self.size is not None and total != "*" and int(total) != self.size)
            ):
                raise TransferError(
                    f"GET {self.description} with Range bytes={start}- got a mismatching "
                    f"Content-Range {resp.headers.get('Content-Range')!r}"
                )
            self._skip = 0
            return
        # 200 to a Range request: the server ignores Range; read again from 0 and discard.
        changed = (self.size is not None and length != self.size and not self._decode) or (
            self._etag and etag and etag != self._etag
        )
        if changed:
            raise TransferError(
                f"{self.description} changed on the server during the download "
                f"(after {start} bytes)"
            )
        self._skip = start
        self.restarts += 1

    def _drop(self) -> None:
        resp, self._resp = self._resp, None
        if resp is not None:
            resp.close()

    def _fail(self, cause: str) -> None:
        """Count a failure; sleep before the next attempt or raise TransferError."""
        self._drop()
        if self._cancel.is_set():
            raise TransferError(f"GET {self.description}: upload cancelled")
        self._failures += 1
        if self._failures > self._retry.attempts:
            total = f" of {self.size}" if self.size is not None else ""
            reached = f" after {self._pos}{total} bytes" if self._pos else ""
            raise TransferError(
                f"GET {self.description} failed{reached}: {cause} "
                f"(gave up after {self._retry.attempts} retries)"
            )
        delay = self._retry.delay(self._failures)
        self._progress.note(
            f"GET failed at byte {self._pos} ({cause}); "
            f"retry {self._failures}/{self._retry.attempts} in {delay:g}s"
        )
        if self._retry.sleep is not None:
            self._retry.sleep(delay)
        else:
            self._cancel.wait(delay)
        if self._cancel.is_set():
            raise TransferError(f"GET {self.description}: upload cancelled")

    def _with_retries(self, fn: Callable[[], None]) -> None:
        while True:
            try:
                fn()
                return
            except _Transient as e:
                self._fail(str(e))

    def _read(self, n: int) -> bytes:
        """Read up to ``n`` image bytes; resume transparently; ``b""`` at the end."""
        while True:
            if self._resp is None:
                self._with_retries(self._connect)
                self._resumes += 1
            try:
                data = self._resp.raw.read(n, decode_content=self._decode)
                if not data and self.size is not None and self._pos < self.size:
                    raise _Transient(f"connection closed after {self._pos} of {self.size} bytes")
            except _TRANSPORT_ERRORS as e:
                self._fail(_describe(e))
                continue
            if self._skip:
                drop = min(self._skip, len(data))
                self._skip -= drop
                data = data[drop:]
                if not data:
                    continue
            if data:
                self._pos += len(data)
                self._failures = 0
            return data

    def _read_head(self) -> bytes:
        parts: list[bytes] = []
        got = 0
        while got < HEAD_SIZE:
            data = self._read(HEAD_SIZE - got)
            if not data:
                break
            parts.append(data)
            got += len(data)
        return b"".join(parts)

    def _items(self) -> Iterator[Item]:
        head, self._head = self._head, b""
        if head:
            yield head
        while True:
            data = self._read(self.read_size)
            if not data:
                return
            yield data

    def _interrupt(self) -> None:
        """Unblock a read waiting on the network: shut the connection's socket down."""
        sock = _socket_of(self._resp)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self._drop()
        if self._own_session and getattr(self, "_session", None) is not None:
            self._session.close()


def probe_http(
    url: str,
    headers: Mapping[str, str] | None = None,
    *,
    timeout: tuple[float, float] = (15.0, 30.0),
    session: requests.Session | None = None,
) -> ImageInfo:
    """Size, format and virtual size of the image at ``url`` from its first 64 KiB: one GET
    with ``Range: bytes=0-65535``, read no further whatever the server sends."""
    description = _display_url(url)
    sent = {
        k: v
        for k, v in (headers or {}).items()
        if k.lower() not in ("range", "if-range", "accept-encoding")
    }
    sent.update({"Range": f"bytes=0-{HEAD_SIZE - 1}", "Accept-Encoding": "identity"})
    own = session is None
    session = session or requests.Session()
    try:
        try:
            resp = session.get(url, headers=sent, stream=True, timeout=timeout)
        except requests.RequestException as e:
            raise TransferError(f"GET {description} failed: {_describe(e)}") from None
        with resp:
            status = f"{resp.status_code} {resp.reason or ''}".rstrip()
            if resp.status_code not in (200, 206):
                raise TransferError(f"GET {description} returned {status}")
            size = None
            if resp.headers.get("Content-Encoding", "identity").strip().lower() in (
                "",
                "identity",
            ):
                if resp.status_code == 206:
                    match = _CONTENT_RANGE_RE.match(resp.headers.get("Content-Range", ""))
                    if match and match.group(3) != "*":
                        size = int(match.group(3))
                else:
                    size = _int_or_none(resp.headers.get("Content-Length"))
            parts, got = [], 0
            try:
                while got < HEAD_SIZE:
                    data = resp.raw.read(HEAD_SIZE - got, decode_content=False)
                    if not data:
                        break
                    parts.append(data)
                    got += len(data)
            except _TRANSPORT_ERRORS as e:
                raise TransferError(f"GET {description} failed: {_describe(e)}") from None
    finally:
        if own:
            session.close()
    head = b"".join(parts)
    return ImageInfo(description, size, sniff_format(head), virtual_size(head))


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _display_url(url: str) -> str:
    """The URL without credentials and query (they may carry secrets)."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "…" if parts.query else "", ""))


def _describe(exc: BaseException) -> str:
    """A short cause for a network exception (connection refused, timed out, ...)."""
    chain: list[BaseException] = []
    todo: list[Any] = [exc]
    while todo:
        e = todo.pop(0)
        if not isinstance(e, BaseException) or any(e is c for c in chain):
            continue
        chain.append(e)
        todo.extend([getattr(e, "reason", None), e.__cause__, e.__context__])
        todo.extend(getattr(e, "args", ()))
    for e in chain:
        if isinstance(e, ssl.SSLError):
            detail = getattr(e, "verify_message", None) or getattr(e, "reason", None) or str(e)
            return f"TLS error: {detail}"
    causes: list[tuple[type | tuple[type, ...], str]] = [
        (_Transient, ""),
        (socket.gaierror, "cannot resolve host name"),
        (ConnectionRefusedError, "connection refused"),
        (ConnectionResetError, "connection reset by peer"),
        (
            (http.client.IncompleteRead, urllib3.exceptions.IncompleteRead),
            "connection closed before the end of the body",
        ),
        ((TimeoutError, requests.Timeout, urllib3.exceptions.ReadTimeoutError), "timed out"),
    ]
    for kind, text in causes:
        for e in chain:
            if isinstance(e, kind) and not isinstance(e, urllib3.exceptions.NewConnectionError):
                return text or str(e)
    text = str(exc)
    return text if len(text) < 200 else text[:200] + "…"


def _socket_of(resp: requests.Response | None) -> socket.socket | None:
    """The socket under a streaming response, if it can be found (urllib3 1.x and 2.x)."""
    raw = getattr(resp, "raw", None)
    conn = getattr(raw, "_connection", None)
    sock = getattr(conn, "sock", None)
    if isinstance(sock, socket.socket):
        return sock
    fp = getattr(getattr(raw, "_fp", None), "fp", None)
    sock = getattr(getattr(fp, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None
