"""The demo host's settings plus a test app of a new adopter's own models (airports, stock prices, penguins).

The app is installed for the tests only, so the demo project stays as an adopter would see it.
"""

from project.settings import *  # noqa: F403
from project.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.adoption_app"]
