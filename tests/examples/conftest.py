# The example pages run in the same Chromium/HTTP fixtures as the browser tests.
from tests.browser.conftest import browser, bundles, http_server, page, playwright, web_root  # noqa: F401
