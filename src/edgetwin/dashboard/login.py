"""The login page (``GET /login``): a small server-rendered form in the dashboard's look.

It is plain HTML, not a NiceGUI page: a browser without a session gets no event connection
(:mod:`edgetwin.dashboard.gate`). The form posts ``username``, ``password`` and ``next``
to ``POST /auth/login``; a short script sends it with ``fetch`` so that a refused login shows its
error on this page, and ``/login?error=1`` shows the same error without the script. A request
that already has a valid session goes straight on to ``next``.
"""

from __future__ import annotations

import html
from typing import Final

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from nicegui import __version__ as nicegui_version

from edgetwin.dashboard import access, theme

REFUSED: Final = "Wrong name or password."
HINT: Final = (
    "First start: use the one-time link <code>edgetwin up</code> printed;"
    " <code>edgetwin user link admin</code> makes a new one."
)


def local_path(target: str | None) -> str:
    """``target`` when it is a path of this site, else ``/`` (never an open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def add_login_route(app: FastAPI) -> None:
    """Serve the login page at ``/login`` on ``app`` (not part of the API's schema)."""

    @app.get(access.LOGIN_PATH, include_in_schema=False)
    async def login_page(request: Request, next: str = "/", error: str = "") -> Response:
        target = local_path(next)
        if access.of_request(request) is not None:
            return RedirectResponse(target, status_code=303)
        return HTMLResponse(page(target, REFUSED if error else ""), headers=_HEADERS)


_HEADERS: Final = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",  # no login form inside another site's frame
    "Content-Security-Policy": "frame-ancestors 'none'",
}

_CSS: Final = f"""
* {{ box-sizing: border-box; }}
body {{ margin: 0; background: {theme.BACKGROUND}; color: {theme.TEXT};
  font-family: Roboto, -apple-system, "Segoe UI", sans-serif; }}
header {{ display: flex; align-items: center; gap: 8px; padding: 8px 24px;
  background: {theme.HEADER}; border-bottom: 1px solid {theme.SURFACE_EDGE}; }}
header .brand {{ font-size: 1.25rem; font-weight: 700; letter-spacing: 0.025em; }}
.material-icons {{ color: {theme.ACCENT}; }}
main {{ display: flex; justify-content: center; padding: 12vh 16px; }}
.card {{ width: 100%; max-width: 380px; background: {theme.SURFACE};
  border: 1px solid {theme.SURFACE_EDGE}; border-radius: 10px; padding: 28px; }}
h1 {{ font-size: 1.35rem; font-weight: 600; margin: 0 0 4px; }}
.sub {{ color: {theme.MUTED}; font-size: 0.8rem; line-height: 1.45; }}
label {{ display: block; margin: 18px 0 6px; color: {theme.MUTED}; font-size: 0.72rem;
  font-weight: 600; letter-spacing: 0.08em; text-transform: uppercase; }}
input {{ width: 100%; padding: 10px 12px; border-radius: 6px; font-size: 0.95rem;
  background: {theme.BACKGROUND}; color: {theme.TEXT}; border: 1px solid {theme.SURFACE_EDGE}; }}
input:focus {{ outline: none; border-color: {theme.ACCENT}; }}
button {{ width: 100%; margin-top: 22px; padding: 10px; border: 0; border-radius: 6px;
  background: {theme.ACCENT}; color: #04121f; font-weight: 600; font-size: 0.95rem;
  letter-spacing: 0.03em; cursor: pointer; }}
button:disabled {{ opacity: 0.6; cursor: wait; }}
.error {{ margin-top: 16px; padding: 9px 12px; border-radius: 6px; font-size: 0.85rem;
  background: rgba(220, 38, 38, 0.15); border: 1px solid #dc2626; color: #fecaca; }}
.error[hidden] {{ display: none; }}
.hint {{ margin-top: 22px; padding-top: 14px; border-top: 1px solid {theme.SURFACE_EDGE}; }}
code {{ font-family: ui-monospace, SFMono-Regular, Menlo, monospace; color: {theme.TEXT}; }}
"""

# Sends the form with fetch: a refused login (401) shows the error here; a good one (a 303 that
# sets the session cookie) goes on to ``next``.
_SCRIPT: Final = """
const form = document.getElementById("login");
const error = document.getElementById("error");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const response = await fetch(form.action, {
      method: "POST", body: new URLSearchParams(new FormData(form)),
      redirect: "manual", credentials: "same-origin",
    });
    if (response.type === "opaqueredirect" || response.ok) {
      window.location.assign(form.elements.next.value);
      return;
    }
    error.textContent = response.status === 401 ? "%(refused)s"
      : "Login failed (HTTP " + response.status + "); try again.";
  } catch (e) {
    error.textContent = "The server cannot be reached; try again.";
  }
  error.hidden = false;
  button.disabled = false;
});
"""


def page(target: str, error: str) -> str:
    """The login page's HTML, going on to ``target`` after a good login, showing ``error``."""
    fonts = f"/_nicegui/{nicegui_version}/static/fonts.css"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · edgetwin</title>
<link rel="icon" href="data:image/svg+xml,<svg xmlns=%22http://www.w3.org/2000/svg%22 viewBox=%220 0 100 100%22><text y=%22.9em%22 font-size=%2290%22>🏭</text></svg>">
<link rel="stylesheet" href="{fonts}">
<style>{_CSS}</style></head>
<body>
<header><span class="material-icons" style="font-size:26px">precision_manufacturing</span>
<span class="brand">edgetwin</span></header>
<main><div class="card">
<h1>Log in</h1>
<div class="sub">to the plant dashboard</div>
<form id="login" method="post" action="/auth/login" data-testid="login-form">
<input type="hidden" name="next" value="{html.escape(target)}">
<label for="username">Name</label>
<input id="username" name="username" autocomplete="username" required maxlength="64" autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password"
 required maxlength="1024">
<div id="error" class="error" role="alert" data-testid="login-error"{"" if error else " hidden"}>{
        html.escape(error)
    }</div>
<button type="submit" data-testid="login-submit">Log in</button>
</form>
<div class="sub hint" data-testid="login-hint">{HINT}</div>
</div></main>
<script>{_SCRIPT % {"refused": REFUSED}}</script>
</body></html>"""
