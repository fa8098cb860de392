"""Language choice from Accept-Language, and bilingual field selection."""
from flask import has_request_context, request

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"


def current_language() -> str:
    """Return the best language for this request: zh-CN (default) or en."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    best = request.accept_languages.best_match(LANGUAGES + ("zh", "en-US", "en-GB"))
    if best is None:
        return DEFAULT_LANGUAGE
    return "en" if best.startswith("en") else "zh-CN"


def pick(zh: str, en: str, language: str | None = None) -> str:
    """Return the text for the language, falling back to the other one when empty."""
    language = language or current_language()
    return (en or zh) if language == "en" else (zh or en)
