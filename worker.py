"""Entry point for `flask` in processes that serve no requests (the dispatcher): the app without its HTTP layer."""
from dotenv import load_dotenv

load_dotenv()  # a local .env (see .env.example) overrides nothing already in the environment

from backend import create_app  # noqa: E402

app = create_app(http=False)
