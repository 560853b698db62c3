"""The web console: a playground (`/ui/`) and a dashboard (`/ui/dashboard`) served with the API.

Pages and scripts are static files; every figure they show comes from the JSON API with the
operator's key, so the console can do nothing a key holder could not do with curl.
"""

from attune.server.console._routes import STATIC, VENDOR, install

__all__ = ["STATIC", "VENDOR", "install"]
