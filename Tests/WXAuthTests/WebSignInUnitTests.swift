import Foundation
import FunctionRuntime
import Logging
import TestSupport
import Testing
import WeChat

@testable import WXAuth

@Suite struct ReturnToTests {
    @Test(arguments: [
        ("/", ["/"]), ("/app", ["/app"]), ("/app/x?y=1#z", ["/app"]), ("/app?x", ["/app"]),
        ("https://a.example/home", ["https://a.example"]), ("https://a.example", ["https://a.example"]),
        ("/deep/path%20with%20escapes", ["/"]),
    ])
    func allowed(returnTo: String, allowList: [String]) throws {
        #expect(try ReturnTo.validate(returnTo, allowList: allowList) == returnTo)
    }

    @Test(arguments: [
        ("/application", ["/app"]), ("https://a.example.evil.example/", ["https://a.example"]),
        ("https://a.example@evil.example/", ["https://a.example"]), ("//evil.example", ["/"]),
        ("/\\evil.example", ["/"]), ("/%5Cevil.example", ["/"]), ("/%2F%2Fevil.example", ["/"]),
        ("/%2f/evil.example", ["/"]), ("/a/../b", ["/"]), ("/a/%2E%2E/b", ["/"]), ("/a/./b", ["/"]),
        ("javascript:alert(1)", ["/"]), ("data:text/html,x", ["/"]), ("/has space", ["/"]), ("/tab\t", ["/"]),
        ("/bad%zzescape", ["/"]), ("/%00", ["/"]), ("https://evil.example/", ["/"]), ("/中文", ["/"]),
        ("http://a.example/", ["https://a.example"]),
    ])
    func refused(returnTo: String, allowList: [String]) {
        #expect(throws: AuthError.self) { try ReturnTo.validate(returnTo, allowList: allowList) }
    }

    @Test func missingReturnToIsTheFirstAllowedEntry() throws {
        #expect(try ReturnTo.validate(nil, allowList: ["/home", "/"]) == "/home")
        #expect(try ReturnTo.validate("", allowList: ["/"]) == "/")
    }
}

@Suite struct SignedStateTests {
    func services(secret: String = Fixture.jwtSecret) async -> Services {
        var config = Fixture.config()
        config.dataKeys = DataKeyring(secret: Secret(secret))
        return await Fixture.services(ScriptedWeChat(routes: [:]), config: config)
    }

    @Test func aStateVerifiesUntilItExpiresAndOnlyWithTheSameKey() async throws {
        let services = await services()
        let binding = LoginBinding.reuseOrMake(nil, random: services.random)
        let (state, id) = SignedState.make(expiresAt: 1_000_600, binding: binding, services: services)
        #expect(state.count == 104 && WebAuthorizeURL.isValidState(state))
        let verified = try SignedState.verify(state, now: 1_000_600, services: services)
        #expect(verified.id == id)
        #expect(LoginBinding.matches(binding.value, bindingHash: verified.bindingHash))
        #expect(
            !LoginBinding.matches(
                LoginBinding.reuseOrMake(nil, random: services.random).value,
                bindingHash: verified.bindingHash
            )
        )
        #expect(throws: AuthError.self) { try SignedState.verify(state, now: 1_000_601, services: services) }
        let otherKey = await self.services(secret: String(repeating: "z", count: 40))
        #expect(throws: AuthError.self) { try SignedState.verify(state, now: 1_000_000, services: otherKey) }
        // Stretching the expiry, or swapping the binding for another browser's, invalidates the tag.
        for position in [39, 60] {
            var bytes = Array(state)
            bytes[position] = bytes[position] == "f" ? "e" : "f"
            #expect(throws: AuthError.self) {
                try SignedState.verify(String(bytes), now: 1_000_000, services: services)
            }
        }
        #expect(throws: AuthError.self) { try SignedState.verify(state + "00", now: 1_000_000, services: services) }
        #expect(throws: AuthError.self) { try SignedState.verify("", now: 1_000_000, services: services) }
    }
}

/// CONTRACT §4 "Binding the sign-in to the browser": login CSRF and leaked callback URLs, with an injected clock.
@Suite struct BrowserBindingTests {
    static let desktop = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120"
    static let wechatBrowser = "Mozilla/5.0 (iPhone) MicroMessenger/8.0.47"
    static let grant =
        #"{"access_token":"wx-web-access","expires_in":7200,"refresh_token":"wx-web-refresh","openid":"oWeb","scope":"snsapi_login","unionid":"uWeb"}"#

    struct Browser {
        var userAgent = BrowserBindingTests.desktop
        var sourceIP = "203.0.113.7"
        var cookie: String?
        var json = true
    }

    let wechat = ScriptedWeChat(answering: BrowserBindingTests.grant)
    let clock = ManualClock()
    let provider: ServiceProvider

    init() async {
        var config = Fixture.config()
        config.officialAccount = AppCredentials(appid: "wxoa", secret: Secret("oa-secret"))
        config.website = AppCredentials(appid: "wxweb", secret: Secret("web-secret"))
        config.publicURL = "https://auth.example.test"
        provider = ServiceProvider(await Fixture.services(wechat, clock: clock, config: config))
    }

    func context() -> FunctionContext {
        FunctionContext(functionName: "test", logger: Logger(label: "test"), deadline: .now + .seconds(10))
    }

    /// `GET /login` in a browser: the state and the binding cookie's value.
    func start(_ browser: Browser) async throws -> (state: String, cookie: String) {
        let request = FunctionRequest(
            method: "GET",
            path: "/login",
            query: ["return_to": "/"],
            headers: ["user-agent": browser.userAgent],
            cookies: browser.cookie.map { [LoginBinding.cookieName: $0] } ?? [:]
        )
        let response = try await Functions.login(provider)(request, context())
        #expect(response.statusCode == 302)
        let setCookie = try #require(response.cookies?.first)
        let value = String(try #require(setCookie.split(separator: ";").first).dropFirst("wxauth_login=".count))
        #expect(setCookie == "wxauth_login=\(value); HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=600")
        let location = try #require(response.headers["location"])
        let state = try #require(URLComponents(string: location)?.queryItems?.first { $0.name == "state" }?.value)
        #expect(WebAuthorizeURL.isValidState(state))
        return (state, value)
    }

    func callback(_ browser: Browser, state: String, code: String = "web-code") async throws -> FunctionResponse {
        let request = FunctionRequest(
            method: "GET",
            path: "/callback",
            query: ["code": code, "state": state],
            headers: ["user-agent": browser.userAgent, "accept": browser.json ? "application/json" : "text/html"],
            cookies: browser.cookie.map { [LoginBinding.cookieName: $0] } ?? [:],
            sourceIP: browser.sourceIP
        )
        return try await Functions.callback(provider)(request, context())
    }

    func refreshToken(_ response: FunctionResponse) -> String? {
        (try? decodeJSON(TokenAnswer.self, from: response.body))?.refresh_token
    }

    func isInvalidState(_ response: FunctionResponse) -> Bool {
        response.statusCode == 400 && response.body.contains("invalid_state") && response.cookies == nil
            && !response.body.contains("refresh_token")
    }

    @Test func anotherBrowserCannotFinishTheSignInAndWeChatIsNotCalled() async throws {
        var victim = Browser()
        let (state, _) = try await start(Browser())  // the attacker's own sign-in
        #expect(isInvalidState(try await callback(victim, state: state)), "no cookie outside WeChat")
        victim.cookie = try await start(victim).cookie
        #expect(isInvalidState(try await callback(victim, state: state)), "the victim's own, different binding")
        victim.json = false
        #expect(isInvalidState(try await callback(victim, state: state)))
        #expect(wechat.calls == 0, "the code was never exchanged")
    }

    @Test func insideWeChatTheStateAloneIsEnoughButADifferentBindingIsRefused() async throws {
        var phone = Browser(userAgent: Self.wechatBrowser)
        let (state, _) = try await start(phone)
        phone.cookie = LoginBinding.reuseOrMake(nil, random: SystemRandomSource()).value
        #expect(isInvalidState(try await callback(phone, state: state)))
        #expect(wechat.calls == 0)
        phone.cookie = nil
        #expect(try await callback(phone, state: state).statusCode == 200, "the webview lost the cookie")
    }

    @Test func theBrowserThatStartedFinishesAndKeepsItsBindingAcrossSignIns() async throws {
        var browser = Browser()
        let first = try await start(browser)
        browser.cookie = first.cookie
        let second = try await start(browser)
        #expect(second.cookie == first.cookie, "a second tab keeps the binding")
        let signedIn = try await callback(browser, state: first.state)
        #expect(signedIn.statusCode == 200 && signedIn.body.contains("refresh_token"))
    }

    @Test func aRepeatGetsTheFirstOutcomeOnlyFromTheSameBrowserInTheSameFormWithinAMinute() async throws {
        var browser = Browser()
        let (state, cookie) = try await start(browser)
        browser.cookie = cookie
        let first = try await callback(browser, state: state)
        #expect(first.statusCode == 200 && refreshToken(first) != nil)
        clock.advance(60)
        #expect(refreshToken(try await callback(browser, state: state)) == refreshToken(first), "a repeat within 60 s")
        var other = browser
        other.json = false
        #expect(isInvalidState(try await callback(other, state: state)), "the other representation")
        other = browser
        other.cookie = nil
        other.userAgent = Self.wechatBrowser
        #expect(isInvalidState(try await callback(other, state: state)), "the first carried a binding; this one none")
        clock.advance(1)
        #expect(isInvalidState(try await callback(browser, state: state)), "61 s after the first")
        #expect(wechat.calls <= 2, "exchanged once (and the profile read once)")
    }

    @Test func aRepeatWithoutABindingMustComeFromTheSameAddressAndUserAgent() async throws {
        var phone = Browser(userAgent: Self.wechatBrowser, json: false)
        let (state, _) = try await start(phone)
        let first = try await callback(phone, state: state)
        #expect(first.statusCode == 302 && first.cookies?.first?.hasPrefix("wxauth_refresh=") == true)
        #expect(try await callback(phone, state: state).cookies == first.cookies)
        phone.sourceIP = "198.51.100.9"
        #expect(isInvalidState(try await callback(phone, state: state)), "another address")
        phone.sourceIP = Browser().sourceIP
        phone.userAgent += " other"
        #expect(isInvalidState(try await callback(phone, state: state)), "another User-Agent")
    }
}
