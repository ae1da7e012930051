"""The dashboard behind login, against a running stack: pages without a session land on the login
page, a wrong password shows the error, the first start's one-time link logs the admin in, a
viewer sees no command buttons while an operator does, a viewer of another tenant sees nothing,
the pages' event connection and the live WebSocket refuse strangers, and a click whose session
has ended is refused on the server and audited."""

from __future__ import annotations

import contextlib
import json
import re

import httpx
import pytest
from playwright.sync_api import Page, expect
from tests.browser.conftest import PASSWORD, Dash, Stack, ensure_user
from tests.conftest import make_token
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from edgetwin.security import IdentityStore

pytestmark = pytest.mark.browser

LINK = re.compile(r"/auth/link\?code=([\w-]+)")


def test_a_page_without_a_session_lands_on_the_login_page(stack: Stack, page: Page, dash) -> None:
    for path in ("/", "/factory"):
        raw = httpx.get(stack.url(path), follow_redirects=False)  # no cookie, no token
        assert raw.status_code == 303
        assert raw.headers["location"] == f"/login?next={path}"
    page.goto(stack.url("/factory"))
    expect(page).to_have_url(stack.url("/login?next=/factory"))
    expect(page.get_by_test_id("login-hint")).to_contain_text("edgetwin user link admin")
    expect(page.get_by_test_id("login-error")).to_be_hidden()
    dash.screenshot("login.png")


def test_a_wrong_password_shows_the_error(stack: Stack, page: Page, dash) -> None:
    name = ensure_user(stack.data_dir, "viewer")
    page.goto(stack.url("/login?next=/factory"))
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORD + "x")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).to_have_text("Wrong name or password.")
    expect(page).to_have_url(stack.url("/login?next=/factory"))
    dash.screenshot("login-refused.png")
    page.goto(stack.url("/login?error=1"))  # the same, without the script
    expect(page.get_by_test_id("login-error")).to_have_text("Wrong name or password.")
    # and then the right one goes on to the page asked for
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page).to_have_url(stack.url("/"))


def test_the_first_start_link_is_printed_once_and_logs_the_admin_in(
    stack: Stack, page: Page
) -> None:
    printed = stack.log.read_text("utf-8", "replace")
    codes = LINK.findall(printed)
    assert len(codes) == 1, printed[-3000:]
    for kept in stack.data_dir.rglob("*"):  # never in a log file (nor anywhere else) there
        if kept.is_file():
            assert codes[0].encode() not in kept.read_bytes(), f"the login code is in {kept}"
    page.goto(stack.url(f"/auth/link?code={codes[0]}"))
    expect(page).to_have_url(stack.url("/"))
    expect(page.get_by_test_id("who-name")).to_have_text("admin")
    expect(page.get_by_test_id("who-role")).to_have_text("admin")
    expect(page.get_by_test_id("nav")).to_contain_text("Factory")
    # once only
    assert httpx.get(stack.url(f"/auth/link?code={codes[0]}")).status_code == 401


def test_a_viewer_sees_no_command_buttons_while_an_operator_does(
    stack: Stack, page: Page, dash: Dash
) -> None:
    stack.login(page, "/factory", role="viewer")
    expect(page.get_by_test_id("who-role")).to_have_text("viewer")
    expect(page.get_by_test_id("fault-bearing_fault-state")).to_be_visible()  # the state: yes
    dash.poll("machine states", lambda: page.get_by_test_id("machine-cnc-01-state").inner_text())
    expect(page.get_by_test_id("machine-cnc-01")).to_be_visible()
    assert page.get_by_test_id("fault-bearing_fault-switch").count() == 0
    assert page.locator("[data-testid$='-toggle']").count() == 0
    dash.screenshot("factory-viewer.png")
    page.goto(stack.url("/"))
    dash.poll("a stored count", lambda: dash.number("stat-stored"))
    expect(page.get_by_test_id("edge-edge-01")).to_be_visible()
    dash.screenshot("overview-viewer.png")

    page.context.clear_cookies()
    stack.login(page, "/factory", role="operator")
    expect(page.get_by_test_id("who-role")).to_have_text("operator")
    expect(page.get_by_test_id("fault-bearing_fault-switch")).to_be_visible()
    expect(page.locator("[data-testid$='-toggle']")).to_have_count(9)


def test_a_viewer_of_another_tenant_sees_nothing_of_acme(stack: Stack, page: Page, dash) -> None:
    stack.login(page, "/", role="beta")
    expect(page.get_by_test_id("not-yours")).to_contain_text("tenant acme")
    assert page.get_by_test_id("edge-edge-01").count() == 0
    assert page.get_by_test_id("stat-stored").count() == 0
    page.goto(stack.url("/factory"))
    expect(page.get_by_test_id("not-yours")).to_be_visible()
    assert page.get_by_test_id("machine-cnc-01").count() == 0
    dash.screenshot("overview-other-tenant.png")


def test_log_out_ends_the_session(stack: Stack, page: Page) -> None:
    stack.login(page, "/", role="viewer")
    page.get_by_test_id("logout").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto(stack.url("/factory"))
    expect(page).to_have_url(stack.url("/login?next=/factory"))


def test_the_event_connection_takes_only_this_site_with_a_session(stack: Stack, page: Page) -> None:
    polling = "/_nicegui_ws/socket.io/?EIO=4&transport=polling"
    assert httpx.get(stack.url(polling)).status_code == 403  # no session
    stack.login(page, "/", role="viewer")
    session = {c["name"]: c["value"] for c in page.context.cookies()}["edgetwin_session"]
    cookies = {"edgetwin_session": session}
    assert httpx.get(stack.url(polling), cookies=cookies).status_code == 200
    evil = {"Origin": "http://evil.example"}
    refused = httpx.get(stack.url(polling), cookies=cookies, headers=evil)
    assert refused.status_code == 403
    assert "Origin" in refused.text
    # the same for the WebSocket upgrade a page of another site would attempt
    ws_url = stack.base_url.replace("http://", "ws://") + polling.replace("polling", "websocket")
    with pytest.raises(InvalidStatus) as upgrade:
        connect(ws_url, additional_headers={"Cookie": f"edgetwin_session={session}", **evil})
    assert upgrade.value.response.status_code == 403
    own = {"Cookie": f"edgetwin_session={session}", "Origin": stack.base_url}
    with connect(ws_url, additional_headers=own) as accepted:
        assert accepted.recv(timeout=5).startswith("0")  # engine.io's open packet
    # and the page itself is connected: its timers update it
    expect(page.get_by_test_id("live")).to_contain_text("live", timeout=10_000)


def test_a_click_after_the_session_ended_is_refused_and_audited(stack: Stack, page: Page) -> None:
    stack.login(page, "/factory", role="operator")
    toggle = page.get_by_test_id("machine-press-01-toggle")
    expect(toggle).to_be_visible()
    session = {c["name"]: c["value"] for c in page.context.cookies()}["edgetwin_session"]
    with IdentityStore(stack.data_dir) as store:
        store.end_session(session)  # as a log-out in another tab, or an admin removing the user
    toggle.click()
    expect(page.get_by_text("your session has ended")).to_be_visible()
    with IdentityStore(stack.data_dir) as store:
        entries = store.audit_entries(frozenset({"*"}), limit=20)
    refused = [e for e in entries if e.action == "command" and e.caller == "otto"]
    assert refused, entries
    assert refused[0].outcome == "refused 403"
    assert refused[0].target.endswith("press-01:STOP")


def test_the_live_websocket_needs_credentials_and_keeps_to_the_callers_tenants(
    stack: Stack,
) -> None:
    ws_url = stack.base_url.replace("http://", "ws://") + "/api/v1/live"
    with connect(ws_url) as anonymous, pytest.raises(ConnectionClosed) as closed:
        anonymous.recv(timeout=5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    assert "credentials needed" in closed.value.rcvd.reason

    beta = make_token(stack.data_dir, "viewer", ("beta",))
    acme = make_token(stack.data_dir, "viewer", ("acme",))
    with (
        connect(f"{ws_url}?token={beta}") as beta_ws,
        # unbounded: a client whose queue is full cannot read the server's close frame in time
        connect(
            ws_url, additional_headers={"Authorization": f"Bearer {acme}"}, max_queue=None
        ) as acme_ws,
    ):
        # the factory's 54 readings every 2 s are acme's: the acme viewer gets them, and the
        # beta viewer, connected all along, none
        acme_got = [json.loads(acme_ws.recv(timeout=10)) for _ in range(20)]
        beta_got = []
        with contextlib.suppress(TimeoutError):
            while True:
                beta_got.append(json.loads(beta_ws.recv(timeout=3)))
    assert {e["topic"].split("/")[1] for e in acme_got} == {"acme"}
    assert beta_got == []
