"""The same views with the data in a signed cookie (`signed_cookies`)."""

from .settings import *  # noqa: F401,F403

SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
