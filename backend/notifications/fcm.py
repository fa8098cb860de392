"""Firebase Cloud Messaging (HTTP v1): Android devices, and iOS ones registered through Firebase.

The platform signs in as a service account: a JWT signed with the account's private key is
exchanged at its `token_uri` for an OAuth2 access token (scope firebase.messaging), kept until a
minute before it expires. Each push is `POST /v1/projects/{project_id}/messages:send`.
"""
import json
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

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
FCM_API = "https://fcm.googleapis.com"
TOKEN_LIFETIME_S = 3600
TOKEN_MARGIN_S = 60  # renew a little before the provider would refuse the token
# What FCM answers for a token that will never work again: the app was uninstalled or the token
# expired (UNREGISTERED), or it belongs to another Firebase project (SENDER_ID_MISMATCH).
DEAD_TOKEN = {"UNREGISTERED", "SENDER_ID_MISMATCH"}
SERVICE_ACCOUNT_FIELDS = ("project_id", "client_email", "private_key", "token_uri")


class FcmPush:
    """Sends through FCM's HTTP v1 API as a service account."""

    name = "fcm"
    _token: str | None

    def __init__(self, service_account: dict, *, api: str = FCM_API):
        missing = [f for f in SERVICE_ACCOUNT_FIELDS if not service_account.get(f)]
        if missing:
            raise PushNotConfigured(f"the FCM service account lacks {', '.join(missing)}")
        self.account, self.api = service_account, api.rstrip("/")
        self.http = httpx.Client(timeout=TIMEOUT_S)
        self._token, self._expires, self._lock = None, 0.0, threading.Lock()

    @classmethod
    def from_config(cls, config: dict) -> "FcmPush":
        """Build from FCM_SERVICE_ACCOUNT_FILE (the JSON key Firebase downloads); FCM_API_URL for a stand-in."""
        path = config.get("FCM_SERVICE_ACCOUNT_FILE")
        if not path:
            raise PushNotConfigured("FCM_SERVICE_ACCOUNT_FILE is not set")
        try:
            account = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise PushNotConfigured(f"FCM_SERVICE_ACCOUNT_FILE cannot be read: {exc}") from exc
        return cls(account, api=config.get("FCM_API_URL") or FCM_API)

    def check_address(self, address: str) -> None:
        """FCM registration tokens are opaque; refuse only what cannot be one."""
        if not address or any(c.isspace() or c == "/" for c in address):
            raise Invalid("invalid_device_address", "An FCM device needs its registration token.")

    def send(self, *, address: str, secret: str, message: dict) -> None:
        title, body = alert(message)
        payload = {"message": {"token": address, "notification": {"title": title, "body": body},
                               # data values must be strings: the app shows the message in its own language
                               "data": {"notification": json.dumps(message, ensure_ascii=False)}}}
        try:
            answer = self.http.post(f"{self.api}/v1/projects/{self.account['project_id']}/messages:send",
                                    json=payload, headers={"Authorization": f"Bearer {self._access_token()}"})
        except httpx.HTTPError as exc:
            raise PushFailed(f"FCM unreachable: {exc}") from exc
        if answer.status_code == 200:
            return
        self._refuse(answer)

    def _refuse(self, answer: httpx.Response) -> None:
        """Raise what an FCM error answer means for this delivery and its device."""
        error = _error(answer)
        status, code = error.get("status", ""), _fcm_code(error)
        reason = f"FCM {answer.status_code} {code or status}: {error.get('message', '')}"[:300]
        if code in DEAD_TOKEN:  # not any 404: a wrong project id must not unregister every device
            raise DeviceGone(reason)
        if answer.status_code == 401:  # the access token was revoked or expired early: sign in again
            with self._lock:
                self._token = None
            raise PushFailed(reason)
        if answer.status_code == 429 or answer.status_code >= 500:
            raise PushFailed(reason, retry_after_s=retry_after(answer.headers))
        raise PushRejected(reason)  # INVALID_ARGUMENT and the like: the same request fails again

    def _access_token(self) -> str:
        """Return the OAuth2 access token, exchanging a fresh signed assertion when it is near expiry."""
        with self._lock:
            if self._token and time.time() < self._expires - TOKEN_MARGIN_S:
                return self._token
            now = int(time.time())
            assertion = jwt.encode({"iss": self.account["client_email"], "scope": SCOPE,
                                    "aud": self.account["token_uri"], "iat": now, "exp": now + TOKEN_LIFETIME_S},
                                   self.account["private_key"], algorithm="RS256",
                                   headers={"kid": self.account.get("private_key_id")}
                                   if self.account.get("private_key_id") else None)
            try:
                answer = self.http.post(self.account["token_uri"], data={
                    "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion})
                answer.raise_for_status()
                granted = answer.json()
                self._token, self._expires = granted["access_token"], now + int(granted.get("expires_in", 3600))
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                raise PushFailed(f"FCM sign-in failed: {exc}"[:300]) from exc
            return self._token


def _error(answer: httpx.Response) -> dict:
    try:
        error = answer.json().get("error")
    except ValueError:
        return {}
    return error if isinstance(error, dict) else {}


def _fcm_code(error: dict) -> str | None:
    """Return the FcmError code among an error's details (UNREGISTERED, QUOTA_EXCEEDED, ...)."""
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and detail.get("@type", "").endswith("google.firebase.fcm.v1.FcmError"):
            return detail.get("errorCode")
    return None
