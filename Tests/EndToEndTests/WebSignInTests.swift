import Foundation
import TestSupport
import Testing
import WeChatSandbox

/// Web sign-in with the built `login`, `callback`, `refresh`, `userinfo` and `logout` executables, the
/// sandbox playing WeChat's authorize pages and token endpoints.
@Suite(.serialized) struct WebSignInTests {
    static let desktop = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36"
    static let wechat = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0.47 NetType/WIFI"

    /// `GET /login`'s 302 target, the state in it, and the browser's binding cookie (`wxauth_login=…`).
    func startSignIn(
        _ e2e: EndToEnd,
        returnTo: String = "/app/page",
        scope: String? = nil,
        userAgent: String = desktop
    ) async throws -> (location: String, state: String, binding: String) {
        var path = "/login?return_to=" + returnTo.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        if let scope { path += "&scope=\(scope)" }
        let started = try await e2e.invoke("login", method: "GET", path: path, headers: ["user-agent": userAgent])
        #expect(started.status == 302, "\(started.stdout)")
        let location = try #require(started.headers["location"])
        let state = try #require(
            URLComponents(string: location)?.queryItems?.first { $0.name == "state" }?.value,
            "\(location)"
        )
        let setCookie = try #require(started.cookies.first { $0.hasPrefix("wxauth_login=") }, "\(started.stdout)")
        #expect(setCookie.hasSuffix("; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=600"))
        return (location, state, String(setCookie.prefix { $0 != ";" }))
    }

    func callback(
        _ e2e: EndToEnd,
        code: String?,
        state: String?,
        binding: String?,
        accept: String = "text/html,application/xhtml+xml",
        userAgent: String = desktop
    ) async throws -> Invocation {
        var items: [String] = []
        if let code { items.append("code=\(code)") }
        if let state { items.append("state=\(state)") }
        return try await e2e.invoke(
            "callback",
            method: "GET",
            path: "/callback?" + items.joined(separator: "&"),
            headers: ["accept": accept, "user-agent": userAgent],
            cookies: binding.map { [$0] } ?? []
        )
    }

    static func refreshCookie(_ run: Invocation) -> String? {
        run.cookies.first { $0.hasPrefix("wxauth_refresh=") }
            .map { String($0.dropFirst("wxauth_refresh=".count).prefix { $0 != ";" }) }
    }

    @Test func qrSignInRepeatedCallbackRefreshAndLogout() async throws {
        try await withEndToEnd { e2e in
            let (location, state, binding) = try await startSignIn(e2e)
            #expect(
                location.hasPrefix(e2e.sandbox.baseURL + "/connect/qrconnect?appid=\(EndToEnd.website)&redirect_uri=")
            )
            #expect(
                location.contains(
                    "redirect_uri=https%3A%2F%2Fauth.example.test%2Fcallback&response_type=code&scope=snsapi_login&state="
                )
            )
            #expect(location.hasSuffix("#wechat_redirect"))
            #expect(state.count <= 128 && state.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })

            let code = try await e2e.mintWebCode(appid: EndToEnd.website, user: "carol")
            let first = try await callback(e2e, code: code, state: state, binding: binding)
            #expect(first.status == 302, "\(first.stdout)")
            #expect(first.headers["location"] == "/app/page")
            let cookie = try #require(first.cookies.first)
            #expect(cookie.contains("HttpOnly") && cookie.contains("Secure") && cookie.contains("SameSite=Lax"))
            let refreshToken = try #require(Self.refreshCookie(first))

            // WeChat and browsers repeat the callback: the same sign-in, not WeChat's 40163.
            let calls = try await e2e.upstreamCalls("/sns/oauth2/access_token")
            let repeated = try await callback(e2e, code: code, state: state, binding: binding)
            #expect(repeated.status == 302)
            #expect(Self.refreshCookie(repeated) == refreshToken)
            #expect(try await e2e.upstreamCalls("/sns/oauth2/access_token") == calls, "the code was not sent again")
            // The same state with another code is a replay.
            let otherCode = try await e2e.mintWebCode(appid: EndToEnd.website, user: "carol")
            let replay = try await callback(
                e2e,
                code: otherCode,
                state: state,
                binding: binding,
                accept: "application/json"
            )
            #expect(replay.status == 400)
            #expect(try replay.refusal.error == "invalid_state")

            // The browser's cookie refreshes, and the cookie rotates.
            let refreshed = try await e2e.invoke(
                "refresh",
                method: "POST",
                path: "/refresh",
                cookies: ["wxauth_refresh=\(refreshToken)"]
            )
            #expect(refreshed.status == 200, "\(refreshed.stdout)")
            let access = try refreshed.tokens.access_token
            let rotated = try #require(Self.refreshCookie(refreshed))
            #expect(try rotated != refreshToken && rotated == refreshed.tokens.refresh_token)

            let info = try await e2e.userinfo(access)
            #expect(info.status == 200)
            let profile = try info.profile
            #expect(profile.nickname == "carol")
            #expect(profile.picture?.hasPrefix("http") == true)
            #expect(profile.unionid != nil)

            let logout = try await e2e.invoke(
                "logout",
                method: "POST",
                path: "/logout",
                cookies: ["wxauth_refresh=\(rotated)"]
            )
            #expect(logout.status == 204, "\(logout.stdout)")
            #expect(logout.cookies.first?.hasPrefix("wxauth_refresh=;") == true)
            #expect(logout.cookies.first?.contains("Max-Age=0") == true)
            let afterLogout = try await e2e.userinfo(access)
            #expect(afterLogout.status == 401)
            let refreshAfterLogout = try await e2e.invoke(
                "refresh",
                method: "POST",
                path: "/refresh",
                cookies: ["wxauth_refresh=\(rotated)"]
            )
            #expect(refreshAfterLogout.status == 400)

            for run in [first, repeated, refreshed, info, logout] {
                #expect(run.exitStatus == 0)
                assertNoSecrets(EndToEnd.secrets + [code], in: run.stderr)
            }
        }
    }

    @Test func officialAccountSignInLinksTheMiniProgramAccountByUnionid() async throws {
        try await withEndToEnd { e2e in
            let miniUser = try await e2e.signIn(user: "dave").user

            let (location, state, _) = try await startSignIn(e2e, returnTo: "/", userAgent: Self.wechat)
            #expect(
                location.hasPrefix(e2e.sandbox.baseURL + "/connect/oauth2/authorize?appid=\(EndToEnd.officialAccount)&")
            )
            #expect(location.contains("&scope=snsapi_userinfo&state="))
            let code = try await e2e.mintWebCode(appid: EndToEnd.officialAccount, user: "dave")
            // Inside WeChat the webview may have lost the binding cookie: the state alone is enough there.
            let signedIn = try await callback(
                e2e,
                code: code,
                state: state,
                binding: nil,
                accept: "application/json",
                userAgent: Self.wechat
            )
            #expect(signedIn.status == 200, "\(signedIn.stdout)")
            #expect(signedIn.headers["cache-control"] == "no-store")
            let webUser = try signedIn.tokens.user
            #expect(webUser.id == miniUser.id, "one person, one account")
            #expect(webUser.unionid == miniUser.unionid)
            #expect(webUser.openid != miniUser.openid)
        }
    }

    @Test func silentBaseScopeSignsInWithoutAProfile() async throws {
        try await withEndToEnd { e2e in
            let (location, state, binding) = try await startSignIn(e2e, scope: "base", userAgent: Self.wechat)
            #expect(location.contains("&scope=snsapi_base&"))
            let code = try await e2e.mintWebCode(appid: EndToEnd.officialAccount, user: "erin", scope: "snsapi_base")
            let signedIn = try await callback(
                e2e,
                code: code,
                state: state,
                binding: binding,
                accept: "application/json",
                userAgent: Self.wechat
            )
            #expect(signedIn.status == 200, "\(signedIn.stdout)")
            let access = try signedIn.tokens.access_token
            let info = try await e2e.userinfo(access)
            #expect(info.status == 200)
            #expect(try info.members["nickname"] == nil)
            #expect(try await e2e.upstreamCalls("/sns/userinfo") == 0)
        }
    }

    @Test func aLaterSilentSignInRefreshesTheStoredWeChatTokenToReadTheProfile() async throws {
        let clock = ManualSandboxClock(start: Date())
        try await withEndToEnd(sandboxClock: clock) { e2e in
            let (_, state, binding) = try await startSignIn(e2e, userAgent: Self.wechat)
            let code = try await e2e.mintWebCode(appid: EndToEnd.officialAccount, user: "hank")
            #expect(
                try await callback(e2e, code: code, state: state, binding: binding, accept: "application/json").status
                    == 200
            )
            #expect(try await e2e.upstreamCalls("/sns/userinfo") == 1)

            // Three hours on, WeChat's 2-hour access token has expired; a silent (snsapi_base) sign-in has no
            // profile of its own, so the stored grant is refreshed and the profile read again.
            clock.advance(by: 3 * 3600)
            let (_, silentState, silentBinding) = try await startSignIn(e2e, scope: "base", userAgent: Self.wechat)
            let silentCode = try await e2e.mintWebCode(
                appid: EndToEnd.officialAccount,
                user: "hank",
                scope: "snsapi_base"
            )
            let silent = try await callback(
                e2e,
                code: silentCode,
                state: silentState,
                binding: silentBinding,
                accept: "application/json"
            )
            #expect(silent.status == 200, "\(silent.stdout)")
            #expect(try await e2e.upstreamCalls("/sns/oauth2/refresh_token") == 1)
            #expect(
                try await e2e.upstreamCalls("/sns/userinfo") == 3,
                "refused as expired, then read after the refresh"
            )
            let access = try silent.tokens.access_token
            let info = try await e2e.userinfo(access)
            #expect(try info.profile.nickname == "hank")
        }
    }

    @Test func forgedMissingAndRefusedStates() async throws {
        try await withEndToEnd { e2e in
            let (_, state, binding) = try await startSignIn(e2e)
            let code = try await e2e.mintWebCode(appid: EndToEnd.website, user: "frank")
            var tampered = Array(state)
            tampered[5] = tampered[5] == "a" ? "b" : "a"
            let forged = try await callback(e2e, code: code, state: String(tampered), binding: binding)
            #expect(forged.status == 400)
            #expect(forged.headers["content-type"]?.hasPrefix("text/html") == true)
            #expect(forged.bodyText?.contains(#"<code id="error">invalid_state</code>"#) == true)
            #expect(forged.cookies.isEmpty, "no session")
            #expect(try await e2e.upstreamCalls("/sns/oauth2/access_token") == 0, "a forged state never reaches WeChat")

            let missing = try await callback(e2e, code: code, state: nil, binding: binding, accept: "application/json")
            #expect(try missing.status == 400 && missing.refusal.error == "invalid_state")
            let garbage = try await callback(
                e2e,
                code: code,
                state: "not-even-hex",
                binding: binding,
                accept: "application/json"
            )
            #expect(try garbage.refusal.error == "invalid_state")

            let refused = try await callback(e2e, code: nil, state: state, binding: binding, accept: "application/json")
            #expect(try refused.status == 403 && refused.refusal.error == "access_denied")
            // The state still works for the real callback after a refusal page was revisited.
            let fine = try await callback(e2e, code: code, state: state, binding: binding, accept: "application/json")
            #expect(fine.status == 200)
        }
    }

    @Test func snapshotAccountsAreRefusedAndNothingIsStored() async throws {
        try await withEndToEnd { e2e in
            let (_, state, binding) = try await startSignIn(e2e, userAgent: Self.wechat)
            let code = try await e2e.mintWebCode(appid: EndToEnd.officialAccount, user: "gina", snapshot: true)
            let refused = try await callback(
                e2e,
                code: code,
                state: state,
                binding: binding,
                accept: "application/json"
            )
            #expect(refused.status == 403)
            #expect(try refused.refusal.error == "access_denied")
            #expect(refused.cookies.isEmpty)
            let repeated = try await callback(
                e2e,
                code: code,
                state: state,
                binding: binding,
                accept: "application/json"
            )
            #expect(repeated.status == 403, "a repeat answers the same")
        }
    }

    @Test func aCallbackURLOpenedInAnotherBrowserIsRefusedBeforeWeChatSeesTheCode() async throws {
        try await withEndToEnd { e2e in
            // The attacker starts a sign-in of their own and sends the victim the callback URL with their code.
            let (_, state, _) = try await startSignIn(e2e)
            let code = try await e2e.mintWebCode(appid: EndToEnd.website, user: "mallory")
            let (_, _, victimBinding) = try await startSignIn(e2e)
            for binding in [nil, victimBinding] {
                for accept in ["application/json", "text/html"] {
                    let run = try await callback(e2e, code: code, state: state, binding: binding, accept: accept)
                    #expect(run.status == 400, "\(run.stdout)")
                    #expect(run.stdout.contains("invalid_state") && run.cookies.isEmpty)
                }
            }
            // Inside WeChat a missing cookie is tolerated, a different binding is not.
            let inWeChat = try await callback(
                e2e,
                code: code,
                state: state,
                binding: victimBinding,
                accept: "application/json",
                userAgent: Self.wechat
            )
            #expect(try inWeChat.status == 400 && inWeChat.refusal.error == "invalid_state")
            #expect(try await e2e.upstreamCalls("/sns/oauth2/access_token") == 0, "the code was never exchanged")
        }
    }

    @Test func aLeakedCallbackURLGivesNothingToAnotherClientOrRepresentation() async throws {
        try await withEndToEnd { e2e in
            let (_, state, binding) = try await startSignIn(e2e)
            let code = try await e2e.mintWebCode(appid: EndToEnd.website, user: "ivan")
            let first = try await callback(e2e, code: code, state: state, binding: binding)
            #expect(first.status == 302 && Self.refreshCookie(first) != nil, "\(first.stdout)")
            // The same URL asking for JSON (readable refresh token), or from a client without the binding.
            let asJSON = try await callback(e2e, code: code, state: state, binding: binding, accept: "application/json")
            #expect(try asJSON.status == 400 && asJSON.refusal.error == "invalid_state")
            #expect(try asJSON.members["refresh_token"] == nil)
            let elsewhere = try await callback(e2e, code: code, state: state, binding: nil, userAgent: Self.wechat)
            #expect(elsewhere.status == 400 && elsewhere.cookies.isEmpty, "\(elsewhere.stdout)")
            let again = try await callback(e2e, code: code, state: state, binding: binding)
            #expect(
                again.status == 302 && Self.refreshCookie(again) == Self.refreshCookie(first),
                "the first browser still"
            )
        }
    }

    @Test(arguments: [
        "//evil.example/", "https://evil.example/", "/\\evil.example", "/%2F%2Fevil.example", "%2F%2Fevil.example",
        "/app/../admin", "/app/%2e%2e/admin", "javascript:alert(1)", "/app%5C..%5Cadmin",
        "https://auth.example.test@evil.example/",
    ])
    func openRedirectsAreRefused(returnTo: String) async throws {
        try await withEndToEnd { e2e in
            let started = try await e2e.invoke(
                "login",
                method: "GET",
                path: "/login?return_to=" + returnTo.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!,
                headers: ["user-agent": Self.desktop]
            )
            #expect(started.status == 400, "\(returnTo): \(started.stdout)")
            #expect(try started.refusal.error == "invalid_request")
            #expect(started.headers["location"] == nil)
        }
    }
}
