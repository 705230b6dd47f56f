"""Browser tests: the API and the web app served for real by uvicorn (each in a background
thread on a free 127.0.0.1 port, on the test database), driven by the system Chromium
through Playwright in a phone-sized and a desktop-sized window."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    ViewportSize,
    async_playwright,
)

from backend.app import create_app as create_api
from backend.dev.embedded import free_port
from backend.settings import Settings
from tests.served import Served
from web.app import create_app as create_web
from web.settings import Environment, WebSettings

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENS = ROOT / "var" / "test" / "screens"
PHONE = ViewportSize(width=390, height=844)
DESKTOP = ViewportSize(width=1280, height=800)


@pytest.fixture(scope="session")
def live_api(settings: Settings) -> Iterator[str]:
    """The API's base URL, served from the test database and Redis."""
    server = Served(create_api(settings), lifespan="on")
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def live_web(live_api: str, settings: Settings) -> Iterator[str]:
    """The web app's base URL, calling the live API over HTTP."""
    port = free_port()  # the app is built knowing its own URL
    settings = WebSettings(
        environment=Environment.test,
        api_url=live_api,
        public_api_url=live_api,
        public_web_url=f"http://127.0.0.1:{port}",
        # One SECRET_KEY for both apps, as in a deployment: it keys the signed client header.
        secret_key=settings.secret_key,
    )
    server = Served(create_web(settings), lifespan="on", port=port)
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    # Never skip: a missing browser must fail the run, as CI installs it.
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: `apt-get install -y chromium` (.ci/run does)")
    return str(CHROMIUM)


@pytest.fixture(scope="session")
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


@dataclass
class Tab:
    """A page in a fresh browser context, recording everything that went wrong on it."""

    page: Page
    name: str
    problems: list[str] = field(default_factory=list)

    def watch(self) -> None:
        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.problems.append(f"console: {message.text}")

        self.page.on("console", on_console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page: {error}"))

        def on_request_failed(request: Request) -> None:
            # A load the page itself cut short by navigating on (a favicon still in flight
            # when a form posts) is the browser's housekeeping, not a broken resource.
            if request.failure != "net::ERR_ABORTED":
                self.problems.append(f"request failed: {request.url} ({request.failure})")

        self.page.on("requestfailed", on_request_failed)

    async def screenshot(self, label: str, *, full_page: bool = True) -> Path:
        SCREENS.mkdir(parents=True, exist_ok=True)
        path = SCREENS / f"{label}-{self.name}.png"
        await self.page.screenshot(path=str(path), full_page=full_page)
        return path

    async def overflow_x(self) -> int:
        """How many CSS pixels the page is wider than the window (0 when it fits)."""
        width: int = await self.page.evaluate(
            "document.documentElement.scrollWidth - window.innerWidth"
        )
        return width


async def _tab(browser: Browser, base_url: str, name: str, *, phone: bool) -> AsyncIterator[Tab]:
    context: BrowserContext = await browser.new_context(
        base_url=base_url,
        viewport=PHONE if phone else DESKTOP,
        is_mobile=phone,
        has_touch=phone,
        locale="en-KE",
        timezone_id="Africa/Nairobi",
    )
    tab = Tab(await context.new_page(), name)
    tab.watch()
    yield tab
    await context.close()


@pytest.fixture
async def phone(browser: Browser, live_web: str) -> AsyncIterator[Tab]:
    """A 390x844 phone (touch, mobile viewport rules) on the live web app."""
    async for tab in _tab(browser, live_web, "phone", phone=True):
        yield tab


@pytest.fixture
async def desktop(browser: Browser, live_web: str) -> AsyncIterator[Tab]:
    """A 1280x800 desktop window on the live web app."""
    async for tab in _tab(browser, live_web, "desktop", phone=False):
        yield tab
