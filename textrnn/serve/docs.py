"""The API's documentation, /docs (Swagger UI) and /redoc (ReDoc), without a single outside request.

FastAPI's own pages load their JavaScript and CSS from a CDN, their favicon from FastAPI's site and ReDoc's fonts
from Google: offline they stay blank, and online they tell others who reads the docs. Here the assets come from
the fastapi-offline package when it is installed (it ships Swagger UI's and ReDoc's files), served by this server
under /docs-assets/. Without it, /docs and /redoc are one self-contained page that lists the routes of the OpenAPI
schema (/openapi.json) with their fields: inline CSS, no script, nothing fetched.
"""

import html
import importlib.util
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from starlette.exceptions import HTTPException

ASSETS_URL = "/docs-assets"
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
NO_FAVICON = '<link rel="icon" href="data:,">'  # so that the browser asks nobody for /favicon.ico
# Sent with every page, so that the browser itself refuses any outside request: ReDoc, for one, loads its
# maker's logo from their CDN, unasked. Inline scripts and styles are the pages' own.
SAME_ORIGIN_ONLY = {"content-security-policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; worker-src 'self' blob:"}


def offline_assets() -> Path | None:
    """fastapi-offline's folder of Swagger UI and ReDoc files, or None when it is not installed (or lacks one)."""
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "static"
    return folder if all((folder / name).is_file() for name in ASSETS) else None


def same_origin_only(page: HTMLResponse) -> HTMLResponse:
    page.headers.update(SAME_ORIGIN_ONLY)
    return page


def add_docs_routes(app: FastAPI) -> None:
    """GET /docs and /redoc, and with fastapi-offline installed the assets they load, from this server."""
    assets = offline_assets()

    def page(request: Request, render) -> HTMLResponse:
        """The routes page without the assets; else render(openapi_url, assets_url), served same-origin only."""
        if assets is None:
            return HTMLResponse(routes_page(app.openapi()), headers=SAME_ORIGIN_ONLY)
        root = request.scope.get("root_path", "")
        return same_origin_only(render(root + app.openapi_url, root + ASSETS_URL))

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return page(request, lambda openapi_url, here: get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{app.title} - Swagger UI", swagger_js_url=f"{here}/swagger-ui-bundle.js",
            swagger_css_url=f"{here}/swagger-ui.css", swagger_favicon_url=f"{here}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None}))  # no validator badge

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return page(request, lambda openapi_url, here: get_redoc_html(
            openapi_url=openapi_url, title=f"{app.title} - ReDoc", redoc_js_url=f"{here}/redoc.standalone.js",
            redoc_favicon_url=f"{here}/favicon.png", with_google_fonts=False))  # no fonts from Google

    if assets is not None:
        @app.get(ASSETS_URL + "/{name}", include_in_schema=False)
        async def asset(name: str) -> FileResponse:
            if name not in ASSETS:
                raise HTTPException(404, "Not Found")
            return FileResponse(assets / name)


STYLE = """
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2330; max-width: 60rem;
       margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; } h2 { font-size: 1.05rem; margin: 1.6rem 0 .3rem; }
.muted { color: #667085; font-size: .9rem; }
.method { display: inline-block; min-width: 3.5rem; padding: 0 .4rem; border-radius: 4px; color: white;
          background: #3b6fd8; font-size: .85rem; text-align: center; }
.method.get { background: #2f8f5b; }
code { font-size: .95em; }
table { border-collapse: collapse; margin: .3rem 0 0 4rem; font-size: .92rem; }
td, th { text-align: left; padding: .15rem .8rem .15rem 0; vertical-align: top; }
"""


def schema_type(schema: dict, definitions: dict) -> str:
    """A JSON schema as a short type: "string | list of string", "integer (from 0) | "auto" | null"."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(schema_type(part, definitions) for part in schema["anyOf"])
    if "const" in schema:
        return f'"{schema["const"]}"' if isinstance(schema["const"], str) else str(schema["const"])
    if schema.get("type") == "array":
        return "list of " + schema_type(schema.get("items", {}), definitions)
    bounds = [f"from {schema['minimum']:g}" if "minimum" in schema else "",
              f"to {schema['maximum']:g}" if "maximum" in schema else ""]
    bounds = " ".join(bound for bound in bounds if bound)
    return str(schema.get("type", "any")) + (f" ({bounds})" if bounds else "")


def fields_table(schema: dict, definitions: dict) -> str:
    """The fields of a request body's schema, one row each: name, type, default, description."""
    if "$ref" in schema:
        schema = definitions.get(schema["$ref"].rsplit("/", 1)[-1], {})
    required = set(schema.get("required", []))
    rows = []
    for name, field in schema.get("properties", {}).items():
        default = "required" if name in required else f"default {field.get('default')!r}".replace("None", "null")
        rows.append(f"<tr><td><code>{html.escape(name)}</code></td><td>{html.escape(schema_type(field, definitions))}"
                    f"</td><td class=\"muted\">{html.escape(default)}</td>"
                    f"<td>{html.escape(field.get('description', ''))}</td></tr>")
    return f"<table>{''.join(rows)}</table>" if rows else ""


def routes_page(openapi: dict) -> str:
    """The OpenAPI schema's routes as a standalone page: each method and path, its summary and its body's fields."""
    definitions = openapi.get("components", {}).get("schemas", {})
    sections = []
    for path, operations in openapi.get("paths", {}).items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            summary = operation.get("description") or operation.get("summary", "")
            sections.append(f'<h2><span class="method {html.escape(method)}">{html.escape(method.upper())}</span> '
                            f'<code class="path">{html.escape(path)}</code></h2><div class="muted">'
                            f'{html.escape(summary)}</div>{fields_table(body, definitions) if body else ""}')
    info = openapi.get("info", {})
    title = f"{info.get('title', 'API')} {info.get('version', '')}".strip()
    return (f'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n{NO_FAVICON}\n'
            f"<title>{html.escape(title)} - API</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            f"<h1>{html.escape(title)}</h1>\n<div class=\"muted\">{html.escape(info.get('description', ''))}. The "
            'machine-readable schema: <a href="openapi.json">openapi.json</a>; the page: <a href=".">/</a>. '
            "(With fastapi-offline installed, Swagger UI and ReDoc are here instead.)</div>\n"
            f"{''.join(sections)}\n</body>\n</html>\n")
