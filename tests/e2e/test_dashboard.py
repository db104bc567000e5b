"""The dashboard in a real browser (Debian's Chromium driven by Playwright) against the dev
stack: log in with a key, create and start a session, read the QR code off the screen, scan
it through the simulator, see CONNECTED arrive without a reload, send a message and watch it
reach ``read``, see the API's errors in words, switch to Portuguese; and the operator's views."""

from __future__ import annotations

import io
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import zxingcpp
from helpers import System, start_system, tenant
from PIL import Image
from playwright.sync_api import Browser, Page, expect, sync_playwright

pytestmark = pytest.mark.e2e

# Chromium on a machine with no network: nothing it would fetch on its own (updates, sync,
# field trials), no sandbox (CI runs as root), no GPU.
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
    "--disable-default-apps", "--disable-sync", "--disable-extensions", "--metrics-recording-only",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
]  # fmt: skip
SHOTS = os.environ.get("ZAPGATE_SCREENSHOT_DIR")


def chromium() -> str:
    """Debian's Chromium (Playwright's own download cannot run here)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("Chromium is missing: apt-get install chromium (.ci/run does)")
    return found


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    # QR codes last 15 s, then 5 s each: long enough to read one, short enough to see a rotation.
    system = start_system(tmp_path_factory.mktemp("dashboard") / ".zapgate", {"ZAPGATE_SIM_SPEED": "4"})
    yield system
    system.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    opened = context.new_page()
    opened.set_default_timeout(30_000)
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    assert not errors, f"the page threw: {errors}"


def shot(page: Page, name: str, tmp_path: Path) -> None:
    """A screenshot for the run's record, and for docs/ when ``ZAPGATE_SCREENSHOT_DIR`` says so."""
    page.evaluate("document.getElementById('toasts').replaceChildren()")
    for folder in [tmp_path, *([Path(SHOTS)] if SHOTS else [])]:
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"dashboard-{name}.png"), full_page=True)


def decode(png: bytes) -> list[str]:
    """The QR codes in a screenshot."""
    pixels = np.array(Image.open(io.BytesIO(png)).convert("L"))
    return [b.text for b in zxingcpp.read_barcodes(pixels)]


# WCAG's contrast ratio of each element's own text against the first opaque background behind
# it; the lowest ones found, as [ratio, text].
LOW_CONTRAST = """() => {
  const rgb = (c) => {
    const n = (c.match(/[\\d.]+/g) || []).map(Number);
    // color-mix() computes to color(srgb r g b [/ a]) with channels from 0 to 1
    return c.startsWith("color(") ? n.map((v, i) => (i < 3 ? v * 255 : v)) : n;
  };
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const low = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length) continue;
    const [a, b] = [lum(rgb(getComputedStyle(el).color).slice(0, 3)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) low.push([Math.round(ratio * 100) / 100, el.textContent.trim().slice(0, 40)]);
  }
  return low;
}"""


def log_in(page: Page, stack: System, key: str) -> None:
    """With the keyboard alone: the key field has the focus, Enter submits."""
    page.goto(stack.url + "/")
    expect(page.get_by_label("API key")).to_be_focused()
    page.keyboard.type(key)
    page.keyboard.press("Enter")


def test_a_tenant_links_a_number_and_chats_from_the_browser(
    stack: System, page: Page, tmp_path: Path
) -> None:
    http = tenant(stack, "browser-shop")
    key = http.headers["x-api-key"]
    page.goto(stack.url + "/")
    # A wrong key is refused in the API's words.
    page.get_by_label("API key").fill("zgk_not-a-key")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#login-error")).to_contain_text("401")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#live")).to_have_text("● live")

    # A name the API refuses: its 422 is shown, not swallowed.
    page.get_by_label("Session name").fill("no spaces allowed")
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".toast[data-kind=error]").first).to_contain_text("422")

    page.get_by_label("Session name").fill("loja")
    page.get_by_role("button", name="Create").click()
    row = page.locator("#sessions tr[data-session=loja]")
    expect(row).to_be_visible()
    page.evaluate("window.notReloaded = true")
    row.locator("[data-action=start]").click()
    expect(row.locator(".status")).to_have_text("SCAN_QR")  # over the WebSocket
    shot(page, "sessions", tmp_path)

    row.get_by_role("link", name="loja").click()
    qr = page.locator("img#qr")
    expect(qr).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    value = http.get("/api/v1/sessions/loja/qr", params={"format": "raw"}).json()["value"]
    assert value in decode(qr.screenshot()), "the QR code on screen is not the session's"
    shot(page, "qr", tmp_path)
    # It rotates on screen as the engine issues new codes.
    expect(qr).to_have_attribute("data-rotation", "2", timeout=40_000)

    page.get_by_label("Or link with a code: phone number").fill("+55 11 98888-0001")
    page.get_by_role("button", name="Get pairing code").click()
    expect(page.locator("#pairing-code")).to_have_text(re.compile(r"^[A-Z0-9]{4}-?[A-Z0-9]{4}$"))

    page.get_by_label("Simulated phone").fill("+55 11 98888-0001")
    page.get_by_role("button", name="Simulate a scan").click()
    expect(page.locator("#session-status .status")).to_have_text("CONNECTED", timeout=40_000)
    assert page.evaluate("window.notReloaded") is True
    expect(page.locator("#qr-panel")).to_be_hidden()

    page.get_by_label("To").fill("+5511977770002")
    page.get_by_role("textbox", name="Text").fill("Olá do painel")
    page.get_by_role("button", name="Send", exact=True).click()
    bubble = page.locator(".bubble.out", has_text="Olá do painel")
    expect(bubble).to_be_visible()
    expect(bubble.locator(".msg-status .status")).to_have_text("read", timeout=40_000)
    page.locator("#send-type").select_option("location")
    page.get_by_label("Latitude").fill("-23.5505")
    page.get_by_label("Longitude").fill("-46.6333")
    page.get_by_label("Place name").fill("Loja Centro")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator(".bubble.out", has_text="Loja Centro")).to_contain_text("-23.5505")
    # The contact answers: the message appears in the open chat by itself.
    answered = http.post(
        "/api/v1/sessions/loja/simulator/inbound", json={"from": "5511977770002", "text": "Quero dois"}
    )
    assert answered.status_code == 202, answered.text
    expect(page.locator(".bubble.in", has_text="Quero dois")).to_be_visible(timeout=30_000)
    shot(page, "chat", tmp_path)
    assert (low := page.evaluate(LOW_CONTRAST)) == [], f"text below a 4.5:1 contrast: {low}"
    page.emulate_media(color_scheme="dark")
    assert (low := page.evaluate(LOW_CONTRAST)) == [], f"text below 4.5:1 in dark mode: {low}"
    page.emulate_media(color_scheme="light")
    # On a phone's width nothing needs a sideways scroll.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.locator("#lang").select_option("pt-BR")
    expect(page.locator("#nav")).to_contain_text("Sessões")
    expect(page.get_by_role("button", name="Enviar", exact=True)).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "pt-BR")
    page.reload()  # the key lasts the browser session: still logged in, still in Portuguese
    expect(page.locator("#nav")).to_contain_text("Sessões")
    expect(page.locator("#session-status .status")).to_have_text("CONNECTED")


def test_the_page_and_its_files_are_served_without_a_key(stack: System) -> None:
    with stack.client() as anonymous:
        page = anonymous.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "Content-Security-Policy" in page.text and "/ui/app.js" in page.text
        script = anonymous.get("/ui/app.js")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        assert "no-cache" in script.headers["cache-control"]
        missing = anonymous.get("/ui/nothing-here.js")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        assert anonymous.get("/api/v1/sessions").status_code == 401  # the API still needs a key
        assert anonymous.get("/docs").status_code == 200 and anonymous.get("/openapi.json").status_code == 200


def test_the_operator_sees_tenants_plans_and_the_cluster(stack: System, page: Page, tmp_path: Path) -> None:
    tenant(stack, "browser-admin-view")
    log_in(page, stack, stack.admin_key)
    expect(page.locator("#tenants")).to_contain_text("browser-admin-view")
    page.get_by_label("Tenant name").fill("made-in-the-browser")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#new-secret")).to_contain_text(re.compile(r": zg_[A-Za-z0-9_-]{20,}"))
    expect(page.locator("#tenants")).to_contain_text("made-in-the-browser")
    page.locator("#tenants tr", has_text="made-in-the-browser").get_by_role("button", name="API keys").click()
    expect(page.locator("#keys tbody tr")).to_have_count(1)
    shot(page, "tenants", tmp_path)

    page.get_by_role("link", name="Cluster").click()
    workers = page.locator("#cluster tr[data-worker]")
    expect(workers).to_have_count(2)
    shot(page, "cluster", tmp_path)

    page.get_by_role("link", name="Plans").click()
    page.get_by_label("Name", exact=True).fill("Pro")
    page.get_by_label("Price (R$)").fill("49.90")
    page.get_by_label("Sessions").fill("10")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("main table")).to_contain_text("Pro")
    expect(page.locator("main table")).to_contain_text("R$49.90")


def test_a_tenant_pays_by_pix_and_steers_its_schedules(stack: System, page: Page, tmp_path: Path) -> None:
    http = tenant(stack, "browser-billing")
    assert http.post("/api/v1/sessions", json={"name": "caixa"}).status_code == 201
    made = http.post(
        "/api/v1/schedules",
        json={"name": "lembrete", "session": "caixa", "to": "5511955550003",
              "send_at": "2099-01-01T12:00:00Z", "message": {"type": "text", "text": "Oi"}},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    log_in(page, stack, http.headers["x-api-key"])
    page.get_by_role("link", name="Automation").click()
    row = page.locator("main tr", has_text="lembrete")
    expect(row).to_contain_text("active")
    row.get_by_role("button", name="Pause").click()
    expect(row).to_contain_text("paused")
    assert http.get(f"/api/v1/schedules/{made.json()['id']}").json()["state"] == "paused"

    page.get_by_role("link", name="Plan & billing").click()
    expect(page.locator("#billing")).to_contain_text("trialing")
    page.get_by_role("button", name="Pay with PIX").click()
    pix = page.locator("img#pix-qr")
    expect(pix).to_be_visible()
    charge = http.get("/api/v1/billing/charges").json()["items"][0]
    assert charge["qr_code"] in decode(pix.screenshot()), "the PIX QR on screen is not the charge's"
    expect(page.locator("#pix-code")).to_have_value(charge["qr_code"])
    shot(page, "billing", tmp_path)
    paid = http.post(f"/api/v1/billing/charges/{charge['id']}/simulate-payment")
    assert paid.status_code in (200, 202), paid.text
    # The payment's alert arrives over the WebSocket and the page shows the new state by itself.
    expect(page.locator("#billing")).to_contain_text("active", timeout=30_000)

    # The key is revoked while the page is open: its WebSocket is closed and the page asks to
    # log in again, in words, instead of retrying for ever.
    tenant_id = http.get("/api/v1/me").json()["id"]
    with stack.client(stack.admin_key) as admin:
        keys = admin.get(f"/api/v1/tenants/{tenant_id}/api-keys").json()
        assert admin.delete(f"/api/v1/tenants/{tenant_id}/api-keys/{keys[0]['id']}").status_code == 204
    expect(page.locator("#login-error")).to_contain_text("no longer accepts this key", timeout=30_000)
