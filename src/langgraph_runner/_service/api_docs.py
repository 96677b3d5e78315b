"""``GET /docs``: the API reference as one page, drawn on the server from the OpenAPI document.

FastAPI's own ``/docs`` loads Swagger UI from a CDN, so it is blank on a machine without
the internet. This page needs nothing but the service: every route with its method,
summary, parameters, request body and answers (status, meaning, media type), linking
to the machine-readable ``/openapi.json`` and to the runs UI. It runs no script.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

__all__ = ["add_api_docs"]

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:960px;padding:1rem;color:#1f2328}
h1{font-size:1.5rem}h2{font-size:1.05rem;margin:1.6rem 0 .3rem;font-family:ui-monospace,monospace}
.m{display:inline-block;min-width:3.6rem;padding:0 .3rem;border-radius:3px;color:#fff;
background:#57606a;text-align:center}.GET{background:#0969da}.POST{background:#1a7f37}
table{border-collapse:collapse;width:100%;margin:.3rem 0}td,th{border:1px solid #d0d7de;
padding:.2rem .4rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
code{font-family:ui-monospace,monospace}
"""


def add_api_docs(app: FastAPI) -> None:
    """Serve ``GET /docs`` on ``app`` (built with ``docs_url=None``)."""

    @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
    def api_docs() -> HTMLResponse:
        return HTMLResponse(render(app.openapi()))


def render(doc: Mapping[str, Any]) -> str:
    """The reference page of an OpenAPI document."""
    e = html.escape
    info = doc.get("info", {})
    title, version = e(str(info.get("title", "API"))), e(str(info.get("version", "")))
    parts = [
        "<!doctype html><html lang=en><meta charset=utf-8>",
        '<meta name=viewport content="width=device-width,initial-scale=1">',
        f"<title>{title}</title><style>{_STYLE}</style>",
        f"<h1>{title} <small>{version}</small></h1>",
        '<p>Machine-readable: <a href="/openapi.json">/openapi.json</a>. Runs in a browser: '
        '<a href="/ui">/ui</a>. Every route but <code>/ui</code> needs the '
        "<code>X-API-Key</code> header.</p>",
    ]
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            parts.append(_operation(method.upper(), str(path), op))
    return "".join(parts)


def _operation(method: str, path: str, op: Mapping[str, Any]) -> str:
    e = html.escape
    out = [f'<h2><span class="m {e(method)}">{e(method)}</span> {e(path)}</h2>']
    text = op.get("description") or op.get("summary") or ""
    if text:
        out.append(f"<p>{e(str(text))}</p>")
    params = op.get("parameters", [])
    if params:
        out.append("<table><tr><th>parameter</th><th>in</th><th>type</th><th>required</th></tr>")
        for p in params:
            required = "yes" if p.get("required") else ""
            out.append(
                f"<tr><td><code>{e(str(p.get('name')))}</code></td><td>{e(str(p.get('in')))}</td>"
                f"<td>{e(_type(p.get('schema', {})))}</td><td>{required}</td></tr>"
            )
        out.append("</table>")
    body = op.get("requestBody", {}).get("content", {})
    for media, content in body.items():
        out.append(f"<p>Body: <code>{e(media)}</code>, {e(_type(content.get('schema', {})))}</p>")
    out.append("<table><tr><th>answer</th><th>meaning</th><th>media type</th><th>body</th></tr>")
    for status, answer in op.get("responses", {}).items():
        content = answer.get("content", {}) or {"": {}}
        for media, spec in content.items():
            out.append(
                f"<tr><td>{e(str(status))}</td><td>{e(str(answer.get('description', '')))}</td>"
                f"<td><code>{e(media)}</code></td><td>{e(_type(spec.get('schema', {})))}</td></tr>"
            )
    out.append("</table>")
    return "".join(out)


def _type(schema: Mapping[str, Any]) -> str:
    """A schema in a few words: its model's name, its type, or its choices."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " or ".join(_type(s) for s in schema["anyOf"])
    if "enum" in schema:
        return "one of " + ", ".join(str(v) for v in schema["enum"])
    if schema.get("type") == "array":
        return f"list of {_type(schema.get('items', {}))}"
    return str(schema.get("type", "any"))
