"""Every error code raised anywhere has a title in zh-CN and en; fixed details are translated too."""
import ast
from pathlib import Path

import pytest

from backend import errors, exceptions
from backend.i18n import LANGUAGES, catalogue, messages, title, translate

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("backend", "booking", "mobile_api", "payments", "robotaxi_dispatch")
RAISERS = {name for name, kind in vars(exceptions).items()
           if isinstance(kind, type) and issubclass(kind, exceptions.DomainError)}


def _calls():
    """Yield (where, callee, positional arguments) of every call in the packages."""
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Call):
                    func = node.func
                    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                    yield f"{path.relative_to(ROOT)}:{node.lineno}", name, node.args


def _constant(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def raised_codes() -> dict[str, str]:
    """Return {code: where} for domain exceptions and problem answers built anywhere in the code."""
    found = {}
    for where, name, args in _calls():
        if (name in RAISERS or name == "problem") and args:
            position = 1 if name == "problem" else 0
            if len(args) > position and (code := _constant(args[position])):
                found.setdefault(code, where)
    found.update({code: "backend/errors.py" for code in errors._HTTP_CODES.values()})
    found.update({exceptions.SlotTaken().code: "SlotTaken", exceptions.IllegalTransition("go", "x").code:
                  "IllegalTransition", "http_error": "backend/errors.py"})
    return found


def fixed_details() -> dict[str, str]:
    """Return {detail: where} for every detail given as a fixed text or a template with params."""
    found = {}
    for where, name, args in _calls():
        if name in RAISERS and len(args) > 1 and (detail := _constant(args[1])):
            found.setdefault(detail, where)
        if name == "problem" and len(args) > 2 and (detail := _constant(args[2])):
            found.setdefault(detail, where)
    found[exceptions.IllegalTransition("go", "x").template] = "IllegalTransition"
    found[exceptions.SlotTaken().detail] = "SlotTaken"
    return found


def test_the_scan_finds_the_codes_it_should():
    codes = raised_codes()
    assert len(codes) > 60
    assert {"slot_taken", "sold_out", "outside_service_area", "validation_error", "illegal_transition",
            "database_unavailable", "method_not_allowed"} <= codes.keys()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_raised_code_has_a_title(language):
    missing = {code: where for code, where in raised_codes().items() if not title(code, language)}
    assert not missing, f"add these titles to backend/translations/{language.replace('-', '_')}: {missing}"


def test_chinese_titles_are_chinese():
    for code in raised_codes():
        assert any("\u4e00" <= ch <= "\u9fff" for ch in title(code, "zh-CN")), code


def test_every_fixed_detail_is_translated_to_chinese():
    untranslated = {text: where for text, where in fixed_details().items()
                    if (None, text) not in catalogue("zh-CN")}
    assert not untranslated, f"add these details to backend/translations/zh_CN: {untranslated}"


def test_no_detail_is_formatted_in_place():
    """A detail with values is a template and `params`, so that the catalogue can translate it whole."""
    formatted = [where for where, name, args in _calls()
                 if name in RAISERS and len(args) > 1 and isinstance(args[1], ast.JoinedStr)]
    assert not formatted


def test_templates_fill_their_named_placeholders_in_both_languages():
    template = exceptions.IllegalTransition("go", "x").template
    assert translate(template, "en", what="pull over", current="'charging'") == \
        "Cannot pull over from status 'charging'."
    assert translate(template, "zh-CN", what="pull over", current="'charging'") == \
        "当前状态 'charging' 不能执行：pull over。"


def test_the_console_has_every_string_in_both_languages():
    console = messages("console")
    assert console["zh-CN"].keys() == console["en"].keys()
    assert len(console["en"]) > 30 and console["zh-CN"]["pull_over"] == "靠边停车"


def test_a_chinese_caller_reads_an_error_in_chinese(client):
    answer = client.get("/api/v1/me", headers={"Accept-Language": "zh-CN"})
    assert answer.status_code == 401
    assert (answer.json["title"], answer.json["detail"]) == ("需要登录", "请登录并发送访问令牌。")
    answer = client.get("/api/v1/me", headers={"Accept-Language": "en"})
    assert (answer.json["title"], answer.json["detail"]) == ("Authentication required",
                                                             "Log in and send the access token.")


def test_console_page_carries_the_catalogue(client):
    page = client.get("/ops").get_data(as_text=True)
    assert 'id="messages"' in page and "靠边停车" in page
