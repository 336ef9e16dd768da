/// The web sign-in demo `dev` serves at `/`: one HTML page with a little inline JavaScript, no build
/// step and nothing loaded from elsewhere (only the user's WeChat avatar, when shown, is remote).
///
/// On load it calls `POST /refresh` with the `wxauth_refresh` cookie (no body): a session shows the
/// profile from `GET /userinfo`; `400` shows "Sign in with WeChat", a link to `/login?return_to=/`.
/// `#refresh` rotates the tokens again (`#refresh-count`, `#jti`), `#signout` calls `POST /logout`.
/// `body[data-state]` is `loading`, `signed-in` or `signed-out`, and `body[aria-busy]` is set while an
/// action runs; errors go to `#error`.
enum DemoPage {
    /// The page, with a policy that allows only its own inline script and style and calls to its own origin.
    static let page = StaticPage(
        contentType: "text/html; charset=utf-8",
        body: html,
        headers: [
            "Content-Security-Policy":
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
                + "img-src https: http: data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
            "Referrer-Policy": "no-referrer",
        ]
    )

    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>wxauth demo: sign in with WeChat</title>
        <link rel="icon" href="data:,">
        <style>
          body { font: 16px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 40rem; padding: 1rem; color: #222; }
          [hidden] { display: none !important; }
          dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
          dt { font-weight: 600; }
          dd { margin: 0; overflow-wrap: anywhere; }
          #picture { width: 64px; height: 64px; border-radius: 8px; background: #eee; }
          .button, button { display: inline-block; font: inherit; padding: .6rem 1rem; margin: .25rem .25rem .25rem 0;
            border: 1px solid #07a35a; border-radius: .4rem; background: #07a35a; color: #fff;
            text-decoration: none; cursor: pointer; }
          button.secondary { background: #fff; color: #05733f; }
          button:disabled { opacity: .6; cursor: wait; }
          #error { color: #a0001c; border: 1px solid currentColor; border-radius: .4rem; padding: .5rem; }
          @media (max-width: 30rem) { dl { grid-template-columns: 1fr; } dd { margin-bottom: .5rem; } }
        </style>
        </head>
        <body data-state="loading">
        <main>
        <h1>wxauth demo</h1>
        <p id="status" role="status" aria-live="polite">Checking your session…</p>
        <p id="error" role="alert" hidden></p>

        <section id="signed-out" aria-labelledby="signed-out-title" hidden>
        <h2 id="signed-out-title">You are not signed in</h2>
        <p>Sign in through WeChat: in a browser, WeChat's QR page (here the local sandbox's consent page);
        inside WeChat, the official account's authorisation page.</p>
        <p><a id="signin" class="button" href="/login?return_to=/">Sign in with WeChat</a></p>
        </section>

        <section id="profile" aria-labelledby="profile-title" hidden>
        <h2 id="profile-title">Signed in</h2>
        <img id="picture" alt="Your WeChat avatar" referrerpolicy="no-referrer" hidden>
        <dl>
        <dt>Nickname</dt><dd id="nickname"></dd>
        <dt>User id (<code>sub</code>)</dt><dd id="sub"></dd>
        <dt>OpenID</dt><dd id="openid"></dd>
        <dt>UnionID</dt><dd id="unionid"></dd>
        <dt>Phone</dt><dd id="phone"></dd>
        <dt>Profile updated</dt><dd id="updated"></dd>
        </dl>
        <h3>Access token</h3>
        <dl>
        <dt>Token id (<code>jti</code>)</dt><dd id="jti"></dd>
        <dt>Session (<code>sid</code>)</dt><dd id="sid"></dd>
        <dt>Expires</dt><dd id="expires"></dd>
        <dt>Refreshes</dt><dd id="refresh-count">0</dd>
        </dl>
        <p>Any service can check this token with the public keys alone:
        <a id="jwks" href="/.well-known/jwks.json">JWKS</a>,
        <a href="/.well-known/oauth-authorization-server">server metadata</a>.</p>
        <p><button type="button" id="refresh">Refresh the token</button>
        <button type="button" id="signout" class="secondary">Sign out</button></p>
        </section>
        </main>
        <script>
        "use strict";
        const $ = (id) => document.getElementById(id);
        let accessToken = null;
        let refreshes = 0;

        function show(state) {
          document.body.dataset.state = state;
          $("profile").hidden = state !== "signed-in";
          $("signed-out").hidden = state !== "signed-out";
          $("status").textContent = { "signed-in": "Signed in.", "signed-out": "Signed out." }[state] || "Working…";
        }

        function showError(text) {
          $("error").textContent = text;
          $("error").hidden = !text;
        }

        async function readJSON(response) {
          try { return await response.json(); } catch { return {}; }
        }

        function describe(body, response) {
          const description = body.error_description ? ": " + body.error_description : "";
          return (body.error || "HTTP " + response.status) + description;
        }

        // The access token's claims, for show only: the server checks the signature, not this page.
        function claims(token) {
          try {
            return JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
          } catch {
            return {};
          }
        }

        // POST /refresh with the HttpOnly cookie: true with a new access token, false when there is no session.
        async function refresh() {
          const response = await fetch("/refresh", {
            method: "POST", credentials: "same-origin", headers: { Accept: "application/json" },
          });
          const body = await readJSON(response);
          if (response.status === 400 && (body.error === "invalid_grant" || body.error === "invalid_request")) {
            accessToken = null;
            return false;
          }
          if (!response.ok || !body.access_token) throw new Error("Refreshing failed: " + describe(body, response));
          accessToken = body.access_token;
          const claimed = claims(accessToken);
          $("jti").textContent = claimed.jti || "";
          $("sid").textContent = claimed.sid || "";
          const expiry = new Date(Date.now() + body.expires_in * 1000);
          $("expires").textContent = expiry.toLocaleTimeString() + " (in " + body.expires_in + " s)";
          return true;
        }

        async function loadProfile() {
          const response = await fetch("/userinfo", {
            headers: { Authorization: "Bearer " + accessToken, Accept: "application/json" },
          });
          const body = await readJSON(response);
          if (!response.ok) throw new Error("Reading the profile failed: " + describe(body, response));
          $("nickname").textContent = body.nickname || "(none shared)";
          $("sub").textContent = body.sub || "";
          $("openid").textContent = body.openid || "";
          $("unionid").textContent = body.unionid || "(none)";
          $("phone").textContent = body.phone_number || "(none)";
          $("updated").textContent = body.updated_at ? new Date(body.updated_at * 1000).toLocaleString() : "";
          const picture = $("picture");
          if (/^https?:\/\//.test(body.picture || "")) {
            picture.src = body.picture;
            picture.hidden = false;
          } else {
            picture.removeAttribute("src");
            picture.hidden = true;
          }
        }

        async function signedInOrOut() {
          if (await refresh()) {
            await loadProfile();
            show("signed-in");
          } else {
            show("signed-out");
          }
        }

        // Runs one action with the buttons disabled and the page aria-busy, showing what went wrong.
        async function act(action) {
          const buttons = document.querySelectorAll("button");
          buttons.forEach((button) => { button.disabled = true; });
          document.body.setAttribute("aria-busy", "true");
          showError("");
          try {
            await action();
          } catch (error) {
            showError(error.message);
          } finally {
            buttons.forEach((button) => { button.disabled = false; });
            document.body.removeAttribute("aria-busy");
          }
        }

        // An avatar that cannot be loaded is left out rather than shown broken.
        $("picture").addEventListener("error", () => { $("picture").hidden = true; });

        $("refresh").addEventListener("click", () => act(async () => {
          if (!(await refresh())) {
            show("signed-out");
            throw new Error("Your session has ended; sign in again.");
          }
          refreshes += 1;
          $("refresh-count").textContent = String(refreshes);
          await loadProfile();
          show("signed-in");
        }));

        $("signout").addEventListener("click", () => act(async () => {
          const response = await fetch("/logout", { method: "POST", credentials: "same-origin" });
          const body = response.status === 204 ? {} : await readJSON(response);
          // A session that is already gone is signed out too.
          if (!response.ok && body.error !== "invalid_grant") {
            throw new Error("Signing out failed: " + describe(body, response));
          }
          accessToken = null;
          refreshes = 0;
          $("refresh-count").textContent = "0";
          show("signed-out");
        }));

        // A failed sign-in comes back with ?error=…: say so after checking the session, and keep a reload
        // from saying it again.
        const query = new URLSearchParams(location.search);
        const failure = query.has("error")
          ? query.get("error") + (query.get("error_description") ? ": " + query.get("error_description") : "")
          : "";
        if (failure) history.replaceState(null, "", location.pathname);
        act(async () => {
          await signedInOrOut();
          if (failure) showError("Sign-in failed: " + failure);
        });
        </script>
        </body>
        </html>

        """#
}
