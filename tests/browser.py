"""A small driver for a real headless Chromium over the Chrome DevTools Protocol (CDP), standard library only.

Why this way: `--remote-debugging-pipe` makes Chromium read CDP commands from fd 3 and write replies and
events to fd 4, as NUL-terminated JSON. That needs no port, no websocket client and no polling for a
DevToolsActivePort file, and nothing else on the machine can connect to it. On the page's own target we
enable the Network, Runtime, Log and Page domains, so every request the page makes (the document, every
subresource, data: URIs included), every console message, uncaught exception and browser-logged error
(failed loads, Content-Security-Policy violations) arrives as an event before the load event is
reported. Page.captureScreenshot gives the screenshot; Runtime.evaluate reads what the page shows.

Chromium is started with the flags that keep it from reaching Google on a closed network (no first-run,
background networking, component updates, sync or QUIC) and a fresh profile per launch.

    with Chromium() as browser:
        page = browser.open(Path("report/index.html"))
        page.requests, page.console_errors, page.evaluate("document.title"), page.screenshot(path)
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_CHROMIUM = "/usr/bin/chromium"
INSTALL_HINT = ("headless Chromium is needed for the browser tests: install Debian's package with "
                "`sudo apt-get install -y chromium` (CI does this in `make debian-deps`), or point "
                "GANEVAL_CHROMIUM at a Chromium binary")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
    "--remote-debugging-pipe",
)


_TRAMPOLINE = ("import os, sys; r, w = int(sys.argv[1]), int(sys.argv[2]); os.dup2(r, 3); os.dup2(w, 4); "
               "os.close(r); os.close(w); os.execv(sys.argv[3], sys.argv[3:])")


class BrowserError(RuntimeError):
    """Chromium failed to start, answered with an error, or did not answer in time."""


def chromium_wanted() -> str:
    """The Chromium binary the tests use: $GANEVAL_CHROMIUM, else Debian's /usr/bin/chromium."""
    return os.environ.get("GANEVAL_CHROMIUM") or DEFAULT_CHROMIUM


def chromium_path() -> str | None:
    """The Chromium binary to use, or None when it is not installed."""
    wanted = chromium_wanted()
    if os.path.isfile(wanted) and os.access(wanted, os.X_OK):
        return wanted
    return shutil.which(wanted) if os.sep not in wanted else None


def _above_4(fd: int) -> int:
    """fd moved to a number above 4, so that putting the child's ends on 3 and 4 cannot clobber either."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


@dataclass
class Page:
    """A loaded page: what it requested and logged while loading, and calls to read it."""

    browser: Chromium = field(repr=False)
    session: str
    url: str
    requests: list[str] = field(default_factory=list, repr=False)  # data: URIs make it long
    failed: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)  # (level, text)
    exceptions: list[str] = field(default_factory=list)

    @property
    def console_errors(self) -> list[str]:
        """Console errors and assertions, browser-logged errors and uncaught exceptions."""
        return [t for lvl, t in self.console if lvl in ("error", "assert")] + self.exceptions

    def evaluate(self, expression: str) -> Any:
        """Evaluate a JavaScript expression in the page (through CDP, not a page script) and return its value."""
        res = self.browser.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                                session=self.session)
        if "exceptionDetails" in res:
            raise BrowserError(f"evaluating {expression!r} failed: {res['exceptionDetails'].get('text')}")
        return res["result"].get("value")

    def screenshot(self, path: Path, *, full_page: bool = True) -> Path:
        """Write a PNG screenshot (the whole page by default) to `path`."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            metrics = self.browser.call("Page.getLayoutMetrics", session=self.session)
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        data = self.browser.call("Page.captureScreenshot", params, session=self.session)["data"]
        path.write_bytes(base64.b64decode(data))
        return path


class Chromium:
    """A headless Chromium process driven over --remote-debugging-pipe; use as a context manager."""

    def __init__(self, *, timeout: float = 30.0, width: int = 1280, height: int = 900) -> None:
        binary = chromium_path()
        if binary is None:
            raise BrowserError(f"{chromium_wanted()} not found: {INSTALL_HINT}")
        self.timeout = timeout
        self.width, self.height = width, height
        self.profile = tempfile.mkdtemp(prefix="ganeval-chromium-")
        self.log_path = Path(self.profile) / "chromium.log"
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        to_browser_r, from_browser_w = _above_4(to_browser_r), _above_4(from_browser_w)
        args = [binary, *FLAGS, f"--user-data-dir={self.profile}", f"--window-size={width},{height}", "about:blank"]
        # Chromium wants the pipe on fds 3 and 4: a tiny Python trampoline moves them there and execs it
        # (no preexec_fn, which is unsafe with threads; /bin/sh cannot name fds above 9).
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _TRAMPOLINE, str(to_browser_r), str(from_browser_w), *args],
                pass_fds=(to_browser_r, from_browser_w), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    # -- the protocol ------------------------------------------------------------------------------------------

    def _send(self, method: str, params: dict[str, Any] | None, session: str | None) -> int:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self._to_browser, data):]
        return self._next_id

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_browser], [], [], max(0.0, left))
            if not ready:
                raise BrowserError(f"Chromium did not answer within {self.timeout:g} s (log: {self._log_tail()})")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium closed the connection (exit {self.process.poll()}; "
                                   f"log: {self._log_tail()})")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict[str, Any] | None = None, *, session: str | None = None) -> dict:
        """Send one CDP command and wait for its reply; events that arrive meanwhile are kept."""
        msg_id = self._send(method, params, session)
        deadline = time.monotonic() + self.timeout
        while True:
            msg = self._receive(deadline)
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise BrowserError(f"{method}: {msg['error'].get('message')}")
                return msg.get("result", {})
            self._events.append(msg)

    def _wait_for(self, method: str, session: str) -> None:
        deadline = time.monotonic() + self.timeout
        while not any(e.get("method") == method and e.get("sessionId") == session for e in self._events):
            self._events.append(self._receive(deadline))

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-500:].replace("\n", " | ")
        except OSError:
            return "no log"

    # -- pages -------------------------------------------------------------------------------------------------

    def open(self, path: Path, *, settle_s: float = 0.3) -> Page:
        """Load file://PATH in a new tab and wait for its load event (then `settle_s` more for late events)."""
        url = Path(path).resolve().as_uri()
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=session)
        self.call("Emulation.setDeviceMetricsOverride", {"width": self.width, "height": self.height,
                                                         "deviceScaleFactor": 1, "mobile": False}, session=session)
        start = len(self._events)
        nav = self.call("Page.navigate", {"url": url}, session=session)
        if nav.get("errorText"):
            raise BrowserError(f"cannot open {url}: {nav['errorText']}")
        self._wait_for("Page.loadEventFired", session)
        end = time.monotonic() + settle_s
        while time.monotonic() < end:
            ready, _, _ = select.select([self._from_browser], [], [], max(0.0, end - time.monotonic()))
            if ready or b"\0" in self._buffer:
                self._events.append(self._receive(time.monotonic() + self.timeout))
        page = Page(self, session, url)
        for e in self._events[start:]:
            if e.get("sessionId") != session:
                continue
            method, p = e.get("method"), e.get("params", {})
            if method == "Network.requestWillBeSent":
                page.requests.append(p["request"]["url"])
            elif method == "Network.loadingFailed":
                page.failed.append(f"{p.get('type')}: {p.get('errorText')}")
            elif method == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
                page.console.append((p.get("type", ""), text))
            elif method == "Log.entryAdded":
                entry = p["entry"]
                page.console.append((entry.get("level", ""), f"{entry.get('source')}: {entry.get('text')} "
                                                             f"{entry.get('url', '')}".strip()))
            elif method == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                page.exceptions.append(d.get("exception", {}).get("description") or d.get("text", "exception"))
        return page

    # -- lifetime ----------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Ask Chromium to quit, kill it if it does not, and remove its profile."""
        if self.process.poll() is None:
            try:
                self._send("Browser.close", None, None)
                self.process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(timeout=10)
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
