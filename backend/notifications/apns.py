"""Apple Push Notification service: iOS devices, over HTTP/2 with a JWT provider token.

The provider token is an ES256 JWT (`kid` the key's id, `iss` the team, `iat`) signed with the
`.p8` key from the Apple developer account; Apple accepts one for an hour and refuses new ones
more often than every 20 minutes, so it is renewed every 50. Each push is
`POST /3/device/{token}` with `apns-topic` (the app's bundle id).
"""
import json
import string
import threading
import time
from pathlib import Path

import httpx
import jwt

from backend.exceptions import Invalid
from backend.notifications.push import (
    TIMEOUT_S,
    DeviceGone,
    PushFailed,
    PushNotConfigured,
    PushRejected,
    alert,
    retry_after,
)

APNS_API = "https://api.push.apple.com"
TOKEN_RENEW_S = 50 * 60
# 410 Unregistered, and tokens that are not (or no longer) this app's on this environment.
DEAD_TOKEN = {"Unregistered", "BadDeviceToken", "DeviceTokenNotForTopic", "ExpiredToken"}
# The provider token itself was refused: sign a new one and try again later.
STALE_PROVIDER_TOKEN = {"ExpiredProviderToken", "InvalidProviderToken"}
SETTINGS = ("APNS_KEY_FILE", "APNS_KEY_ID", "APNS_TEAM_ID", "APNS_TOPIC")


class ApnsPush:
    """Sends alerts through APNs with token-based authentication."""

    name = "apns"
    _token: str | None

    def __init__(self, *, key: str, key_id: str, team_id: str, topic: str, api: str = APNS_API):
        self.key, self.key_id, self.team_id, self.topic, self.api = key, key_id, team_id, topic, api.rstrip("/")
        # APNs speaks HTTP/2 only: negotiated over TLS, or with prior knowledge on a plain stand-in.
        self.http = httpx.Client(http1=False, http2=True, timeout=TIMEOUT_S)
        self._token, self._signed_at, self._lock = None, 0.0, threading.Lock()

    @classmethod
    def from_config(cls, config: dict) -> "ApnsPush":
        """Build from APNS_KEY_FILE (.p8), APNS_KEY_ID, APNS_TEAM_ID, APNS_TOPIC; APNS_API_URL for the sandbox."""
        missing = [name for name in SETTINGS if not config.get(name)]
        if missing:
            raise PushNotConfigured(f"{', '.join(missing)} not set")
        try:
            key = Path(config["APNS_KEY_FILE"]).read_text()
        except OSError as exc:
            raise PushNotConfigured(f"APNS_KEY_FILE cannot be read: {exc}") from exc
        return cls(key=key, key_id=config["APNS_KEY_ID"], team_id=config["APNS_TEAM_ID"],
                   topic=config["APNS_TOPIC"], api=config.get("APNS_API_URL") or APNS_API)

    def check_address(self, address: str) -> None:
        """An APNs device token is hexadecimal (32 bytes today; Apple says not to count on the length)."""
        if len(address) < 32 or len(address) % 2 or set(address) - set(string.hexdigits):
            raise Invalid("invalid_device_address", "An APNs device needs its hexadecimal device token.")

    def send(self, *, address: str, secret: str, message: dict) -> None:
        title, body = alert(message)
        payload = {"aps": {"alert": {"title": title, "body": body}, "sound": "default"}, "notification": message}
        headers = {"authorization": f"bearer {self._provider_token()}", "apns-topic": self.topic,
                   "apns-push-type": "alert", "apns-priority": "10"}
        try:
            answer = self.http.post(f"{self.api}/3/device/{address}", headers=headers,
                                    content=json.dumps(payload, ensure_ascii=False).encode())
        except httpx.HTTPError as exc:
            raise PushFailed(f"APNs unreachable: {exc}") from exc
        if answer.status_code == 200:
            return
        try:
            reason = answer.json().get("reason", "")
        except ValueError:
            reason = ""
        detail = f"APNs {answer.status_code} {reason}"
        if answer.status_code == 410 or reason in DEAD_TOKEN:
            raise DeviceGone(detail)
        if reason in STALE_PROVIDER_TOKEN:
            with self._lock:
                self._token = None
            raise PushFailed(detail)
        if answer.status_code == 429 or answer.status_code >= 500:
            raise PushFailed(detail, retry_after_s=retry_after(answer.headers))
        raise PushRejected(detail)  # PayloadTooLarge, BadTopic and the like: the same request fails again

    def _provider_token(self) -> str:
        """Return the provider token, signed anew every TOKEN_RENEW_S."""
        with self._lock:
            if self._token is None or time.time() - self._signed_at >= TOKEN_RENEW_S:
                self._signed_at = time.time()
                self._token = jwt.encode({"iss": self.team_id, "iat": int(self._signed_at)}, self.key,
                                         algorithm="ES256", headers={"kid": self.key_id})
            return self._token
