"""The WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi``."""

from cardshop import create_app

app = create_app()
