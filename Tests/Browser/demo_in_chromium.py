#!/usr/bin/env python3
"""The web sign-in demo in a real browser: headless Chromium against `local-runner dev --port 0`.

Starts the built `local-runner dev` (the WeChat sandbox and every function on OS-picked loopback ports)
and drives Chromium over the DevTools protocol on a pipe (`--remote-debugging-pipe`; Python's standard
library only, no driver, no downloads). Every host but 127.0.0.1 resolves to nothing, so the run never
leaves the machine. It checks, in one browser profile:

  1. the demo page at / shows the signed-out state with "Sign in with WeChat";
  2. sign-in: /login -> the sandbox's QR consent page (website app), a new user's nickname typed and
     approved -> /callback -> back on /, signed in, that nickname shown; the refresh cookie and the
     wxauth_login binding cookie are HttpOnly, Secure, SameSite=Lax, Path=/;
  3. #refresh rotates the tokens (the counter goes up, a new token id); a reload stays signed in;
  4. #signout ends the session (POST /logout, cookie gone); a reload stays signed out;
  5. a tampered state (one character of it changed on the consent page, so WeChat's redirect carries it)
     ends on the callback's error page, 400, naming invalid_state, with no session: no cookie, and
     POST /refresh from the page answers 400;
  5b. a sign-in whose browser lost its wxauth_login binding cookie before WeChat's redirect (as when an
     attacker's callback URL is opened in a victim's browser) ends on the error page, 400 invalid_state;
  6. refusing consent ends on an error page, 403, naming access_denied, with no session;
  7. the demo page loaded with ?error=… shows the error, signed out;
  8. inside WeChat (a MicroMessenger user agent) sign-in goes through the official account's
     /connect/oauth2/authorize page instead, and the same nickname (one unionid) is the same user.

Usage: demo_in_chromium.py [--runner PATH] [--manifest PATH] [--chromium PATH]
Exit status 0 when every check passes; otherwise 1, with the page, dev's log and Chromium's log.
"""

import argparse
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT = 30.0
NICKNAME = "Zoë Browser"


class CheckFailed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise CheckFailed(message)


# MARK: - Chromium over the DevTools protocol


class Chromium:
    """Headless Chromium driven over --remote-debugging-pipe: JSON messages, NUL-terminated, on fds 3 and 4."""

    def __init__(self, executable, profile, log):
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()

        def onto_fds_3_and_4():
            # Moved high first, so neither lands on the other's target number.
            commands = fcntl.fcntl(commands_read, fcntl.F_DUPFD, 10)
            replies = fcntl.fcntl(replies_write, fcntl.F_DUPFD, 10)
            os.dup2(commands, 3)
            os.dup2(replies, 4)

        arguments = [
            executable,
            "--headless=new",
            "--no-sandbox",  # Chromium refuses to run as root otherwise; the pages are our own
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-gpu",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-proxy-server",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "about:blank",
        ]
        self.process = subprocess.Popen(
            arguments, stdin=subprocess.DEVNULL, stdout=log, stderr=log, preexec_fn=onto_fds_3_and_4, close_fds=False
        )
        os.close(commands_read)
        os.close(replies_write)
        self._next_id = 0
        self._answers = {}
        self._changed = threading.Condition()
        self._closed = False
        threading.Thread(target=self._read, daemon=True).start()
        self.session = None

    def _read(self):
        pending = b""
        while True:
            chunk = os.read(self._replies, 65536)
            if not chunk:
                break
            pending += chunk
            *messages, pending = pending.split(b"\0")
            with self._changed:
                for raw in messages:
                    message = json.loads(raw)
                    if "id" in message:
                        self._answers[message["id"]] = message
                self._changed.notify_all()
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def send(self, method, params=None, session=True):
        """Sends a command (to the page's session unless session=False) and returns its result."""
        self._next_id += 1
        ident = self._next_id
        message = {"id": ident, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        with self._changed:
            while ident not in self._answers:
                check(not self._closed, f"Chromium exited while answering {method}")
                remaining = deadline - time.monotonic()
                check(remaining > 0, f"Chromium did not answer {method} within {TIMEOUT:.0f} s")
                self._changed.wait(remaining)
            answer = self._answers.pop(ident)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error'].get('message')}")
        return answer.get("result", {})

    def wait_for_traffic(self, seconds):
        """Blocks until Chromium says anything, or `seconds` pass: polling that wakes on events."""
        with self._changed:
            self._changed.wait(seconds)

    def open_page(self):
        targets = self.send("Target.getTargets", session=False)["targetInfos"]
        page = next(target for target in targets if target["type"] == "page")
        attached = self.send("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True}, session=False)
        self.session = attached["sessionId"]
        self.send("Page.enable")

    def navigate(self, url):
        self.send("Page.navigate", {"url": url})

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise RuntimeError(details.get("exception", {}).get("description") or details.get("text"))
        return result["result"].get("value")

    def wait_until(self, expression, what):
        """Waits until `expression` is truthy in the current page (across navigations); returns its value."""
        deadline = time.monotonic() + TIMEOUT
        last_error = None
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(f"document.readyState === 'complete' && ({expression})")
                if value:
                    return value
            except RuntimeError as error:  # the page navigated away mid-evaluation
                last_error = error
            self.wait_for_traffic(0.05)
        raise CheckFailed(f"timed out waiting for {what}" + (f" (last error: {last_error})" if last_error else ""))

    def cookies(self):
        return self.send("Storage.getCookies", session=False)["cookies"]

    def close(self):
        try:
            self.send("Browser.close", session=False)
            self.process.wait(timeout=10)
        except Exception:
            self.process.kill()
            self.process.wait()


# MARK: - local-runner dev


class Dev:
    """`local-runner dev --port 0` in a scratch directory; its URLs read from what it prints."""

    def __init__(self, runner, manifest, directory, log):
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", directory),
            "WXAUTH_BIN_DIR": os.environ.get("WXAUTH_BIN_DIR") or os.path.dirname(runner),
        }
        self.process = subprocess.Popen(
            [runner, "dev", "--port", "0", "--manifest", manifest],
            cwd=directory,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        self.printed = ""
        for line in self.process.stdout:
            self.printed += line
            if line.startswith("Stop with Ctrl-C."):
                break
        demo = re.search(r"^Web sign-in demo: open (http://127\.0\.0\.1:\d+)/ ", self.printed, re.M)
        sandbox = re.search(r"^WeChat sandbox: (http://127\.0\.0\.1:\d+)$", self.printed, re.M)
        check(demo and sandbox, f"local-runner dev did not print its URLs:\n{self.printed}")
        self.url = demo.group(1)
        self.sandbox = sandbox.group(1)
        threading.Thread(target=self.process.stdout.read, daemon=True).start()

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# MARK: - The checks


def refresh_status(browser):
    return browser.evaluate("fetch('/refresh', {method: 'POST', credentials: 'same-origin'}).then(r => r.status)")


def session_cookie(browser):
    return next((cookie for cookie in browser.cookies() if cookie["name"] == "wxauth_refresh"), None)


def state_is(state):
    """The demo page shows `state` and no action is running."""
    return f"document.body.dataset.state === '{state}' && !document.body.hasAttribute('aria-busy')"


def text_of(element_id):
    return f"document.getElementById('{element_id}').textContent"


def texts(browser, *element_ids):
    """The text of each element, by id."""
    return browser.evaluate("({" + ", ".join(f"'{name}': {text_of(name)}" for name in element_ids) + "})")


def wait_until_signed_in(browser, dev, what):
    """Back on the demo page at /, signed in."""
    browser.wait_until(f"location.href === {json.dumps(dev.url + '/')} && {state_is('signed-in')}", what)


def binding_cookie(browser):
    return next((cookie for cookie in browser.cookies() if cookie["name"] == "wxauth_login"), None)


def sign_in_on_consent_page(
    browser, dev, path, appid, nickname=None, decision="approve", tamper=False, drop_binding=False
):
    """Clicks "Sign in with WeChat" on the demo page and answers the sandbox's consent page."""
    browser.evaluate("document.getElementById('signin').click()")
    browser.wait_until("document.querySelector('form#consent') !== null", f"the consent page at {path}")
    url = browser.evaluate("location.href")
    check(url.startswith(dev.sandbox + path + "?"), f"sign-in went to {url}, not {dev.sandbox}{path}")
    shown = browser.evaluate(text_of("appid"))
    check(shown == appid, f"the consent page is for {shown}, not {appid}")
    if nickname is not None:
        browser.evaluate("document.getElementById('user').value = ''")
        browser.evaluate(f"document.getElementById('nickname').value = {json.dumps(nickname)}")
    if tamper:
        # One character of the state the server signed, changed as an attacker (or a broken proxy) would.
        original = browser.evaluate("document.querySelector('input[name=state]').value")
        check(original, "the consent form carries no state")
        # In the middle (a last character may carry only padding bits of its encoding), and a digit, which
        # every alphanumeric encoding (hex, base36, base62) has: the state still looks well-formed.
        middle = len(original) // 2
        changed = original[:middle] + ("0" if original[middle] != "0" else "1") + original[middle + 1 :]
        browser.evaluate(f"document.querySelector('input[name=state]').value = {json.dumps(changed)}")
    if drop_binding:
        # The browser that comes back from WeChat is not the one that started: it has no binding cookie.
        check(binding_cookie(browser) is not None, "GET /login set no wxauth_login cookie")
        browser.send("Storage.clearCookies", session=False)
    browser.evaluate(f"document.getElementById('{decision}').click()")


def expect_error_page(browser, dev, code, expected_status):
    """The sign-in ended on the callback's error page, or back on the demo page with ?error=, naming `code`."""
    shown = browser.wait_until(
        f"location.href.startsWith({json.dumps(dev.url + '/')})"
        f" && !location.href.startsWith({json.dumps(dev.url + '/login')})"
        " && document.getElementById('error') !== null && !document.getElementById('error').hidden"
        " && !document.body.hasAttribute('aria-busy') && document.getElementById('error').textContent",
        f"an error page naming {code}",
    )
    check(code in shown, f"the error page shows {shown!r}, not {code}")
    if browser.evaluate("location.pathname") == "/callback":
        status = browser.evaluate("performance.getEntriesByType('navigation')[0].responseStatus")
        check(status == expected_status, f"the callback answered {status} for {code}, not {expected_status}")
    check(session_cookie(browser) is None, f"a failed sign-in ({code}) left a refresh cookie")
    browser.navigate(dev.url + "/")
    browser.wait_until(state_is("signed-out"), f"the demo page signed out after {code}")
    check(refresh_status(browser) == 400, f"POST /refresh after a failed sign-in ({code}) did not answer 400")


def run_checks(browser, dev):
    step = lambda text: print(f"  - {text}", flush=True)

    browser.navigate(dev.url + "/")
    browser.wait_until(state_is("signed-out"), "the signed-out demo page")
    href = browser.evaluate("document.getElementById('signin').getAttribute('href')")
    check(href == "/login?return_to=/", f"the sign-in link is {href}")
    check(refresh_status(browser) == 400, "POST /refresh without a cookie did not answer 400")
    step("the demo page shows the signed-out state")

    sign_in_on_consent_page(browser, dev, "/connect/qrconnect", "wxsandboxweb0001", nickname=NICKNAME)
    wait_until_signed_in(browser, dev, "signed in on /")
    nickname = browser.evaluate(text_of("nickname"))
    check(nickname == NICKNAME, f"the page shows nickname {nickname!r}, not {NICKNAME!r}")
    profile = texts(browser, "sub", "openid", "unionid", "jti", "sid")
    check(all(profile[key] for key in ("sub", "openid", "jti", "sid")), f"the profile is incomplete: {profile}")
    cookie = session_cookie(browser)
    check(cookie is not None, "no wxauth_refresh cookie after sign-in")
    check(cookie["httpOnly"], "the refresh cookie is not HttpOnly")
    check(cookie.get("sameSite") == "Lax", f"the refresh cookie's SameSite is {cookie.get('sameSite')}")
    check(cookie["path"] == "/", f"the refresh cookie's Path is {cookie['path']}")
    check(cookie["secure"], "the refresh cookie is not Secure")
    binding = binding_cookie(browser)
    check(binding is not None, "no wxauth_login binding cookie after sign-in")
    check(binding["httpOnly"] and binding["secure"] and binding.get("sameSite") == "Lax" and binding["path"] == "/",
          f"the binding cookie's attributes are {binding}")
    step(f"signed in through the sandbox's QR consent page as {NICKNAME!r} (cookies HttpOnly, Secure, SameSite=Lax)")

    browser.evaluate("document.getElementById('refresh').click()")
    browser.wait_until(f"{text_of('refresh-count')} === '1' && {state_is('signed-in')}", "the first refresh")
    check(browser.evaluate(text_of("jti")) != profile["jti"], "refreshing did not give a new access token")
    check(browser.evaluate(text_of("sid")) == profile["sid"], "refreshing changed the session")
    check(session_cookie(browser)["value"] != cookie["value"], "refreshing did not rotate the cookie")
    browser.evaluate("document.getElementById('refresh').click()")
    browser.wait_until(f"{text_of('refresh-count')} === '2' && {state_is('signed-in')}", "the second refresh")
    browser.navigate(dev.url + "/")
    browser.wait_until(state_is("signed-in"), "still signed in after a reload")
    check(browser.evaluate(text_of("sub")) == profile["sub"], "a reload changed the user")
    step("refreshing rotates the tokens (counter 1, 2; new token id, same session); a reload stays signed in")

    browser.evaluate("document.getElementById('signout').click()")
    browser.wait_until(state_is("signed-out"), "the signed-out state after sign-out")
    check(session_cookie(browser) is None, "the refresh cookie survived sign-out")
    check(browser.evaluate("document.getElementById('error').hidden"), "sign-out showed an error")
    browser.navigate(dev.url + "/")
    browser.wait_until(state_is("signed-out"), "still signed out after a reload")
    step("signing out clears the cookie; a reload stays signed out")

    sign_in_on_consent_page(browser, dev, "/connect/qrconnect", "wxsandboxweb0001", nickname="Mallory", tamper=True)
    expect_error_page(browser, dev, "invalid_state", 400)
    step("a tampered state ends on the callback's error page (400 invalid_state), without a session")

    sign_in_on_consent_page(browser, dev, "/connect/qrconnect", "wxsandboxweb0001", nickname="Mallory", drop_binding=True)
    expect_error_page(browser, dev, "invalid_state", 400)
    step("a callback in a browser without the sign-in's binding cookie ends on the error page (400 invalid_state)")

    sign_in_on_consent_page(browser, dev, "/connect/qrconnect", "wxsandboxweb0001", decision="refuse")
    expect_error_page(browser, dev, "access_denied", 403)
    step("refusing consent ends on an error page (403 access_denied), without a session")

    browser.navigate(dev.url + "/?error=access_denied&error_description=refused")
    browser.wait_until(state_is("signed-out"), "the demo page loaded with ?error=")
    shown = browser.evaluate(text_of("error"))
    check(shown == "Sign-in failed: access_denied: refused", f"the demo page shows {shown!r} for ?error=")
    check(browser.evaluate("location.search") == "", "the demo page kept ?error= in its address")
    step("the demo page loaded with ?error= says so and is signed out")

    wechat = "Mozilla/5.0 (Linux; Android 14) MicroMessenger/8.0.50"
    browser.send("Emulation.setUserAgentOverride", {"userAgent": wechat})
    browser.navigate(dev.url + "/")
    browser.wait_until(state_is("signed-out"), "the demo page inside WeChat")
    sign_in_on_consent_page(browser, dev, "/connect/oauth2/authorize", "wxsandboxoa00001", nickname=NICKNAME)
    wait_until_signed_in(browser, dev, "signed in inside WeChat")
    inside = texts(browser, "sub", "openid", "unionid")
    check(inside["openid"] and inside["openid"] != profile["openid"], "the official account gave the website's openid")
    check(inside["unionid"] == profile["unionid"], f"the same person's unionid differs: {inside} vs {profile}")
    check(inside["sub"] == profile["sub"], "the same unionid signed in as a different user")
    step("inside WeChat, sign-in goes through the official account's authorize page; the unionid links the same user")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runner", default=os.path.join(REPOSITORY, ".build", "debug", "local-runner"))
    parser.add_argument("--manifest", default=os.path.join(REPOSITORY, "functions.yaml"))
    parser.add_argument("--chromium", default=os.environ.get("WXAUTH_CHROMIUM") or shutil.which("chromium"))
    options = parser.parse_args()
    if not options.chromium:
        print("demo_in_chromium: no chromium on PATH (apt-get install chromium; or WXAUTH_CHROMIUM)", file=sys.stderr)
        return 2
    if not os.access(options.runner, os.X_OK):
        print(f"demo_in_chromium: {options.runner} is not built (swift build)", file=sys.stderr)
        return 2

    scratch = tempfile.mkdtemp(prefix="wxauth-browser-")
    dev_log = open(os.path.join(scratch, "dev.log"), "w+")
    chromium_log = open(os.path.join(scratch, "chromium.log"), "w+")
    os.mkdir(os.path.join(scratch, "work"))
    dev = browser = None
    try:
        dev = Dev(options.runner, options.manifest, os.path.join(scratch, "work"), dev_log)
        print(f"local-runner dev: demo {dev.url}/, sandbox {dev.sandbox}", flush=True)
        browser = Chromium(options.chromium, os.path.join(scratch, "profile"), chromium_log)
        browser.open_page()
        run_checks(browser, dev)
        print("demo_in_chromium: every check passed", flush=True)
        return 0
    except (CheckFailed, RuntimeError, StopIteration, OSError) as failure:
        print(f"demo_in_chromium: FAILED: {failure}", file=sys.stderr)
        if browser:
            try:
                page = browser.evaluate("location.href + '\\n' + document.body.innerText")
                print(f"--- the page:\n{page}", file=sys.stderr)
            except Exception as error:
                print(f"--- the page cannot be read: {error}", file=sys.stderr)
        for name, log in (("local-runner dev", dev_log), ("chromium", chromium_log)):
            log.flush()
            log.seek(0)
            # Chromium complains of the missing D-Bus at length, harmlessly.
            lines = [line for line in log.readlines() if "dbus" not in line]
            print(f"--- {name}'s log (last 60 lines):\n" + "".join(lines[-60:]), file=sys.stderr)
        return 1
    finally:
        if browser:
            browser.close()
        if dev:
            dev.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
