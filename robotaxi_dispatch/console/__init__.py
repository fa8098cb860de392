"""The operator console: a live web page at /ops, served with its assets by the app itself."""
from flask import Blueprint, Flask, render_template

from backend.i18n import messages

bp = Blueprint("console", __name__, url_prefix="/ops", static_folder="static",
               static_url_path="/assets", template_folder="templates")


@bp.get("")
def console_page():
    """Serve the console; it logs in and reads the live fleet through /api/v1/ops."""
    response = render_template("ops.html", messages=messages("console"))
    # Everything comes from this app: no CDN, no map tiles, no inline script.
    return response, 200, {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:"}


def init_app(app: Flask) -> None:
    """Register the console page and its assets."""
    app.register_blueprint(bp)
