"""Push providers behind one interface: the webhook sender of the embedded default, FCM and APNs configured.

A provider takes a device's address and the message, and raises `PushFailed` when the device
could not be reached (the outbox counts the attempt and retries later), `PushRejected` when
trying again cannot help, `DeviceGone` when the provider says the device's token is dead (the
outbox unregisters the device). A domestic push service (JPush, Getui) is another class with
`check_address` and `send`, registered in `PROVIDERS`.
"""
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
import urllib.error
import urllib.request
from typing import Protocol
from urllib.parse import urlsplit

from backend.config import DEVELOPMENT
from backend.exceptions import Invalid

log = logging.getLogger(__name__)

TIMEOUT_S = 3


class PushFailed(Exception):
    """The device's provider did not take the message this time; `retry_after_s` when it said when to retry."""

    def __init__(self, reason: str, *, retry_after_s: float | None = None):
        super().__init__(reason)
        self.retry_after_s = retry_after_s


class PushRejected(PushFailed):
    """The provider refused the message for good: the same request would fail again."""


class DeviceGone(PushRejected):
    """The provider says the device's token is dead (app uninstalled, token expired or another app's)."""


class PushNotConfigured(RuntimeError):
    """A push provider is enabled without the credentials it needs."""


class PushProvider(Protocol):
    def check_address(self, address: str) -> None:
        """Refuse an address this provider cannot or must not send to (raises Invalid)."""

    def send(self, *, address: str, secret: str, message: dict) -> None:
        """Hand the message to the device, or raise PushFailed."""


def alert(message: dict) -> tuple[str, str]:
    """Return the title and body a phone shows on its lock screen: Chinese, the city's language.

    The whole message (both languages) travels with it for the app to show in the user's own.
    """
    return message["title"]["zh-CN"], message["body"]["zh-CN"]


def retry_after(headers) -> float | None:
    """Return a Retry-After header's seconds (its HTTP-date form is left to the usual backoff)."""
    try:
        return max(float(headers.get("retry-after", "")), 0.0)
    except ValueError:
        return None


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Return the header a receiver checks: `t=<unix time>,v1=<HMAC-SHA256 of "t.body">`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


class WebhookPush:
    """POSTs each message as JSON to the device's URL, signed with the device's secret.

    Addresses on private, loopback or link-local networks are refused unless `allow_private`
    is on (the embedded default on a developer's machine): otherwise anyone could make the
    platform call into its own network.
    """

    name = "webhook"

    def __init__(self, *, allow_private: bool):
        self.allow_private = allow_private

    def check_address(self, address: str) -> None:
        parts = urlsplit(address)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Invalid("invalid_device_address", "A webhook device needs an http(s) URL.")
        if not self.allow_private and self._private(parts.hostname):
            raise Invalid("invalid_device_address", "The webhook URL must be on the public internet.")

    @staticmethod
    def _private(host: str) -> bool:
        try:
            addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
        except OSError:
            return True  # what does not resolve cannot be checked: refuse it
        return any(not ipaddress.ip_address(a.split("%")[0]).is_global for a in addresses)

    def send(self, *, address: str, secret: str, message: dict) -> None:
        try:
            self.check_address(address)  # again: a name can resolve elsewhere since it was registered
        except Invalid as exc:
            raise PushFailed(exc.detail) from exc
        body = json.dumps(message, ensure_ascii=False).encode()
        request = urllib.request.Request(address, data=body, method="POST", headers={
            "Content-Type": "application/json", "X-Push-Signature": signature(secret, int(time.time()), body)})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
                answer.read(1024)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise PushFailed(str(exc)[:300]) from exc


def _fcm(config: dict) -> PushProvider:
    from backend.notifications.fcm import FcmPush

    return FcmPush.from_config(config)


def _apns(config: dict) -> PushProvider:
    from backend.notifications.apns import ApnsPush

    return ApnsPush.from_config(config)


PROVIDERS = {"fcm": _fcm, "apns": _apns}  # besides the webhook sender, which is always there


def providers_from_config(config: dict) -> dict[str, PushProvider]:
    """Return the push providers the app sends through, by name: the webhook and those in PUSH_PROVIDERS.

    Raises PushNotConfigured for an unknown provider, or one without its credentials outside
    development (in development it is left out with a warning: the embedded default needs none).
    """
    providers: dict[str, PushProvider] = {
        "webhook": WebhookPush(allow_private=config.get("PUSH_WEBHOOK_ALLOW_PRIVATE", False))}
    for name in filter(None, (part.strip() for part in (config.get("PUSH_PROVIDERS") or "").split(","))):
        if name not in PROVIDERS:
            raise PushNotConfigured(f"unknown push provider {name!r} in PUSH_PROVIDERS (known: fcm, apns)")
        try:
            providers[name] = PROVIDERS[name](config)
        except PushNotConfigured as exc:
            if config.get("APP_ENV") != DEVELOPMENT:
                raise PushNotConfigured(f"push provider {name}: {exc}") from exc
            log.warning("push provider %s left out: %s", name, exc)
    return providers
