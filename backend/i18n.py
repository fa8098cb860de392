"""Languages and local time as people see them: Accept-Language, the message catalogue, city time.

Error titles and fixed error details come from the gettext catalogues in `backend/translations/`
(Babel's .po format, read once): titles under the context `title` keyed by the error code,
details keyed by their English text, which is also the English answer, and the operator
console's strings under the context `console`.
"""
from datetime import datetime, timedelta
from functools import cache, lru_cache
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from babel.messages.pofile import read_po
from flask import has_request_context, request
from pydantic import AfterValidator, Field
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
CATALOGUES = Path(__file__).resolve().parent / "translations"
CITY_TZ = ZoneInfo("Asia/Shanghai")

# A moment shown to people: RFC 3339 in Chongqing's offset (+08:00), whatever it was stored in.
CityTime = Annotated[datetime, AfterValidator(lambda moment: moment.astimezone(CITY_TZ)),
                     Field(description="RFC 3339 in Asia/Shanghai (+08:00)")]


def current_language() -> str:
    """Return the best language for this request: zh-CN (default) or en."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    return _language_for(request.headers.get("Accept-Language", ""))


# A list answer asks once per item, and a city's phones send a handful of distinct headers;
# bounded, since any client may send any header.
@lru_cache(maxsize=1024)
def _language_for(accept_language: str) -> str:
    """Return the best language for an Accept-Language header."""
    best = parse_accept_header(accept_language, LanguageAccept).best_match(LANGUAGES + ("zh", "en-US", "en-GB"))
    if best is None:
        return DEFAULT_LANGUAGE
    return "en" if best.startswith("en") else "zh-CN"


def pick(zh: str, en: str, language: str) -> str:
    """Return the text for the language, falling back to the other one when empty."""
    return (en or zh) if language == "en" else (zh or en)


@cache
def catalogue(language: str) -> dict[tuple[str | None, str], str]:
    """Return a language's messages as {(context, message id): text}, translated ones only."""
    locale = language.replace("-", "_")
    with open(CATALOGUES / locale / "LC_MESSAGES" / "messages.po", "rb") as po:
        messages = read_po(po, locale=locale)
    # Only singular messages: the catalogues have no plural forms.
    return {(m.context, m.id): m.string for m in messages if isinstance(m.id, str) and isinstance(m.string, str)
            and m.id and m.string}


def messages(context: str) -> dict[str, dict[str, str]]:
    """Return every message of a context as {language: {key: text}}, for a page's script."""
    return {language: {key: text for (ctx, key), text in catalogue(language).items() if ctx == context}
            for language in LANGUAGES}


def title(code: str, language: str) -> str | None:
    """Return an error code's title in the language, if the catalogue has one."""
    return catalogue(language).get(("title", code))


def translate(text: str, language: str, **params) -> str:
    """Return a message in the language (English when untranslated), with named `{params}` filled in."""
    found = catalogue(language).get((None, text), text)
    return found.format(**params) if params else found


_UNITS = ((86400, "day", "天"), (3600, "hour", "小时"), (60, "minute", "分钟"))


def duration_text(span: timedelta, language: str) -> str:
    """Say a duration as a person would: "2 hours", "1 hour 30 minutes", "2小时", "1小时30分钟"."""
    seconds, parts = int(span.total_seconds()), []
    for size, en, zh in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {en}{'s' if count != 1 else ''}" if language == "en" else f"{count}{zh}")
    if not parts:
        return "0 minutes" if language == "en" else "0分钟"
    return " ".join(parts) if language == "en" else "".join(parts)


class Span:
    """A duration in an error detail's params: written out in the language of the answer.

    Outside a request (logs, the English `detail` of the exception) it reads in English.
    """

    def __init__(self, span: timedelta):
        self.span = span

    def __format__(self, spec: str) -> str:
        return duration_text(self.span, current_language() if has_request_context() else "en")
