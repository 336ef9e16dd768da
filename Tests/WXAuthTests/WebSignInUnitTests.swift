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
        return await Fixture.services(FakeWeChat(), config: config)
    }

    @Test func aStateVerifiesUntilItExpiresAndOnlyWithTheSameKey() async throws {
        let services = await services()
        let (state, id) = SignedState.make(expiresAt: 1_000_600, services: services)
        #expect(state.count == 72 && WebAuthorizeURL.isValidState(state))
        #expect(try SignedState.verify(state, now: 1_000_600, services: services) == id)
        #expect(throws: AuthError.self) { try SignedState.verify(state, now: 1_000_601, services: services) }
        let otherKey = await self.services(secret: String(repeating: "z", count: 40))
        #expect(throws: AuthError.self) { try SignedState.verify(state, now: 1_000_000, services: otherKey) }
        // Stretching the expiry invalidates the tag.
        var bytes = Array(state)
        bytes[39] = bytes[39] == "f" ? "e" : "f"
        #expect(throws: AuthError.self) { try SignedState.verify(String(bytes), now: 1_000_000, services: services) }
        #expect(throws: AuthError.self) { try SignedState.verify(state + "00", now: 1_000_000, services: services) }
        #expect(throws: AuthError.self) { try SignedState.verify("", now: 1_000_000, services: services) }
    }
}
