"""A cookie jar that keeps nothing, for the HTTP client a process shares with every caller.

httpx hands every response to its cookie jar, and the standard library's jar first copies all
of the response's headers into an ``email.message.Message`` to look for ``Set-Cookie``, one
call into the email package per header: 4 % of a lone classify call's instructions
(bench/RESULTS.md). No
model protocol uses cookies, and one that a model server (or a proxy in front of it) did set
would be sent with every later call, whoever made it: a client shared by all callers must not
keep any.
"""

from __future__ import annotations

from http.cookiejar import Cookie, CookieJar
from urllib.request import Request

__all__ = ["NoCookies"]


class NoCookies(CookieJar):
    """Reads no ``Set-Cookie`` header and stores no cookie."""

    def extract_cookies(self, response: object, request: Request) -> None:
        return None

    def set_cookie(self, cookie: Cookie) -> None:
        return None
