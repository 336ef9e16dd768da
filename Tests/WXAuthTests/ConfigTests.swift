import Foundation
import TestSupport
import Testing
import WXAuth
import WXAuthStore
import WeChat

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
        (
            ["WXAUTH_JWT_SECRET": Fixture.jwtSecret, "WECHAT_APPID": "wx"],
            "WECHAT_APPID is set but WECHAT_SECRET is not"
        ),
        (
            ["WXAUTH_JWT_SECRET": Fixture.jwtSecret, "WXAUTH_ACCESS_TTL": "soon"],
            "WXAUTH_ACCESS_TTL must be a whole number of seconds from 1 to 315360000 (10 years)"
        ),
        (
            ["WXAUTH_JWT_SECRET": Fixture.jwtSecret, "WXAUTH_DATABASE_URL": "mysql://x"],
            "WXAUTH_DATABASE_URL must be sqlite:PATH or postgres://user:pass@host:port/db"
        ),
    ])
    func namesTheBadSettingButNotItsValue(environment: [String: String], message: String) {
        let error = #expect(throws: ConfigError.self) { try Config(environment: environment) }
        #expect(error?.description.hasPrefix(message) == true)
        assertNoSecrets(["short-secret"], in: error?.description ?? "")
    }

    /// A newcomer's first invoke fails on the missing secret: the message says how to make one.
    @Test func aMissingSecretSaysHowToMakeOne() {
        let error = #expect(throws: ConfigError.self) { try Config(environment: [:]) }
        #expect(error?.description.contains("openssl rand -hex 32") == true)
        #expect(error?.description.contains("local-runner keys new") == true)
    }

    /// Lifetimes outside 1 s … 10 years are refused by name: Int64.max once overflowed `now + ttl` and crashed
    /// the function after WeChat had consumed the code.
    @Test(
        arguments: ["WXAUTH_ACCESS_TTL", "WXAUTH_REFRESH_TTL"],
        [
            "9223372036854775807", "-9223372036854775808", "0", "-1", "315360001", "1e3", "99999999999999999999", " 60",
        ]
    )
    func lifetimesOutOfRangeNameTheSetting(name: String, value: String) {
        let error = #expect(throws: ConfigError.self) {
            try Config(environment: ["WXAUTH_JWT_SECRET": Fixture.jwtSecret, name: value])
        }
        #expect(error?.description.hasPrefix(name + " must be") == true)
    }

    @Test func lifetimesAtTheBoundsAreAccepted() throws {
        let config = try Config(environment: [
            "WXAUTH_JWT_SECRET": Fixture.jwtSecret, "WXAUTH_ACCESS_TTL": "1", "WXAUTH_REFRESH_TTL": "315360000",
        ])
        #expect(config.accessTTL == 1 && config.refreshTTL == Config.maximumTTL)
    }

    /// A timeout outside (0, 900] s is refused by name; 1e300 once trapped converting to Int64 at start-up.
    @Test(arguments: ["1e300", "nan", "NaN", "inf", "-inf", "-1", "0", "-0", "900.001", "901", "soon", "0x10"])
    func timeoutsOutOfRangeNameTheSetting(value: String) {
        let error = #expect(throws: ConfigError.self) {
            try Config(environment: ["WXAUTH_JWT_SECRET": Fixture.jwtSecret, "WXAUTH_FUNCTION_TIMEOUT": value])
        }
        #expect(error?.description.hasPrefix("WXAUTH_FUNCTION_TIMEOUT must be") == true)
    }

    @Test(arguments: [("0.001", Duration.milliseconds(1)), ("2.5", .milliseconds(2500)), ("900", .seconds(900))])
    func timeoutsInRangeAreRead(value: String, expected: Duration) throws {
        let config = try Config(environment: ["WXAUTH_JWT_SECRET": Fixture.jwtSecret, "WXAUTH_FUNCTION_TIMEOUT": value])
        #expect(config.functionTimeout == expected)
    }

    /// A `NAME_FILE` is read up to 64 KiB: an endless one (`/dev/zero`) or a larger one is refused by name, at once.
    @Test func secretFilesAreBounded() throws {
        let endless = #expect(throws: ConfigError.self) {
            try Config(environment: ["WXAUTH_JWT_SECRET_FILE": "/dev/zero"])
        }
        #expect(endless?.description == "WXAUTH_JWT_SECRET_FILE names a file larger than 65536 bytes")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("big-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try String(repeating: "s", count: 64 * 1024 + 1).write(toFile: path, atomically: true, encoding: .utf8)
        let large = #expect(throws: ConfigError.self) {
            try Config(environment: [
                "WXAUTH_JWT_SECRET": Fixture.jwtSecret, "WECHAT_APPID": "wx", "WECHAT_SECRET_FILE": path,
            ])
        }
        #expect(large?.description == "WECHAT_SECRET_FILE names a file larger than 65536 bytes")
        try String(repeating: "s", count: 64 * 1024).write(toFile: path, atomically: true, encoding: .utf8)
        let config = try Config(environment: [
            "WXAUTH_JWT_SECRET": Fixture.jwtSecret, "WECHAT_APPID": "wx", "WECHAT_SECRET_FILE": path,
        ])
        #expect(config.miniProgram?.secret.revealed.utf8.count == 64 * 1024)
    }
}
