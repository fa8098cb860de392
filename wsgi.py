"""Entry point for gunicorn and `flask`: `app = create_app()`."""
from dotenv import load_dotenv

load_dotenv()  # a local .env (see .env.example) overrides nothing already in the environment

from backend import create_app  # noqa: E402

app = create_app()
