"""Admission: each process serves a bounded number of requests at once; the rest wait their turn.

Under gevent a worker accepts every connection it is offered, and a request may hold up to three
pooled database connections at once (its own session, the sandbox provider's, the webhook's).
Unbounded, a rush checks the whole pool out to requests that each wait for one more connection,
and all of them wait out the pool's timeout: at 1,000 evening users the load test's workers logged
300 such timeouts in five minutes. A turn covers the view and its teardown, not the body of a
streamed response: an open stream has given its connection back before its first byte.
"""
import threading

from flask import Flask

from backend.errors import busy

# A turn not given in this time is refused with Retry-After. Waiting costs a greenlet and a socket,
# and a browser's EventSource gives up on a 503: waiting is kinder than refusing early.
REQUEST_WAIT_S = 30.0


class Admission:
    """WSGI middleware: run the app for at most `REQUESTS_AT_ONCE` (config) requests at a time."""

    def __init__(self, app: Flask):
        self.app, self.wsgi_app = app, app.wsgi_app
        self.turns = threading.BoundedSemaphore(app.config["REQUESTS_AT_ONCE"])

    def __call__(self, environ, start_response):
        if not self.turns.acquire(timeout=REQUEST_WAIT_S):
            with self.app.request_context(environ):
                return busy()(environ, start_response)
        try:
            return self.wsgi_app(environ, start_response)
        finally:
            self.turns.release()


def init_app(app: Flask) -> None:
    """Wrap the app's WSGI callable in its admission (`app.extensions["admission"]`)."""
    admission = Admission(app)
    app.extensions["admission"] = admission
    # Flask's documented way to wrap its WSGI callable, which mypy sees as a method.
    app.wsgi_app = admission  # type: ignore[method-assign]
