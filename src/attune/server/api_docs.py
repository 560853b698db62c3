"""`/docs`: Swagger UI over `/openapi.json`, from files this server serves itself (the npm
package `swagger-ui-dist`, copied into the console's vendor folder by `make install`), so the
page works on a machine without internet access. ReDoc is not served."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse

VENDOR_URL = "/ui/static/vendor/"
"""Where the console's static mount serves `console.VENDOR`."""
SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-favicon-32x32.png")
"""The files of `swagger-ui-dist` the page loads (the favicon renamed when copied)."""


def install(app: FastAPI) -> None:
    """Serve the Swagger UI page at `/docs` (outside the API's own schema)."""
    js, css, icon = (VENDOR_URL + name for name in SWAGGER_FILES)

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=js,
            swagger_css_url=css,
            swagger_favicon_url=icon,
        )
