import Foundation
import Testing
import WeChat
import WXAuth
import WXAuthStore

@Suite struct ConfigTests {
    @Test func readsDefaultsAndValues() throws {
        let config = try Config(environment: [
            "WXAUTH_JWT_SECRET": Fixture.jwtSecret, "WECHAT_APPID": "wxa", "WECHAT_SECRET": "s",
            "WECHAT_API_BASE": "http://127.0.0.1:9/", "WXAUTH_ACCESS_TTL": "60", "WXAUTH_RETURN_TO": "/app, /home",
            "WXAUTH_DATABASE_URL": "sqlite:/tmp/x.sqlite", "WECHAT_OA_APPID": "",
        ])
        #expect(config.miniProgram?.appid == "wxa")
        #expect(config.officialAccount == nil)
        #expect(config.wechatAPIBase == "http://127.0.0.1:9")
        #expect(config.accessTTL == 60 && config.refreshTTL == 604_800)
        #expect(config.returnTo == ["/app", "/home"])
        #expect(config.databaseURL == .sqlite(path: "/tmp/x.sqlite"))
        #expect(config.issuer == "wxauth" && config.audience == "wxauth")
        let defaults = try Config(environment: ["WXAUTH_JWT_SECRET": Fixture.jwtSecret])
        #expect(defaults.databaseURL == .sqlite(path: ".wxauth/wxauth.sqlite"))
        #expect(defaults.wechatAPIBase == "https://api.weixin.qq.com")
    }

    @Test func readsSecretsFromFiles() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("secret-\(UUID().uuidString)").path
        try (Fixture.jwtSecret + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let config = try Config(environment: ["WXAUTH_JWT_SECRET_FILE": path])
        #expect(config.jwtSecret?.revealed == Fixture.jwtSecret)
        #expect(throws: ConfigError.self) { try Config(environment: ["WXAUTH_JWT_SECRET_FILE": path + ".missing"]) }
    }

    @Test(arguments: [
        ([:], "WXAUTH_JWT_SECRET is not set"),
        (["WXAUTH_JWT_SECRET": "short-secret"], "WXAUTH_JWT_SECRET must be at least 32 bytes"),
        (["WXAUTH_JWT_SECRET": Fixture.jwtSecret, "WECHAT_APPID": "wx"], "WECHAT_APPID is set but WECHAT_SECRET is not"),
        (["WXAUTH_JWT_SECRET": Fixture.jwtSecret, "WXAUTH_ACCESS_TTL": "soon"], "WXAUTH_ACCESS_TTL must be a positive number of seconds"),
        (["WXAUTH_JWT_SECRET": Fixture.jwtSecret, "WXAUTH_DATABASE_URL": "mysql://x"],
         "WXAUTH_DATABASE_URL must be sqlite:PATH or postgres://user:pass@host:port/db"),
    ])
    func namesTheBadSettingButNotItsValue(environment: [String: String], message: String) {
        let error = #expect(throws: ConfigError.self) { try Config(environment: environment) }
        #expect(error?.description == message)
        #expect(!(error?.description.contains("short-secret") ?? true))
    }
}

/// `wxauth-postgres FUNCTION`, or `_HANDLER` when Lambda runs it as the `bootstrap` itself.
@Suite struct WxauthPostgresFunctionChoiceTests {
    @Test func theArgumentNamesTheFunctionAndWinsOverHandler() {
        #expect(Functions.Name(arguments: ["wxauth-postgres", "refresh"], environment: ["_HANDLER": "login"]) == .refresh)
        #expect(Functions.Name(arguments: ["wxauth-postgres"], environment: ["_HANDLER": "userinfo"]) == .userinfo)
    }

    @Test func anUnknownOrMissingFunctionIsNone() {
        #expect(Functions.Name(arguments: ["wxauth-postgres"], environment: [:]) == nil)
        #expect(Functions.Name(arguments: ["wxauth-postgres", "bootstrap"], environment: ["_HANDLER": "login"]) == nil)
        #expect(Functions.Name(arguments: ["wxauth-postgres", "Login"], environment: [:]) == nil)
    }
}
