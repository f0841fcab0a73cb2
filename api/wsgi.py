"""The WSGI entry point for gunicorn: `gunicorn api.wsgi:app` (COOPREG_DB picks the store)."""

from api import create_app

app = create_app()
