import Foundation
import Testing

@testable import LocalRunner

@Suite("Manifest")
struct ManifestTests {
    static let sample = """
        defaults:
          timeout: 5
          memory: 256
          environment:
            SHARED: ${SHARED}
            GREETING: ${GREETING:-hello}
            EMPTY: ${NOT_SET:-}
            LITERAL: pa$$word$x
        functions:
          login:    { handler: login, route: /login, method: [post, GET] }
          refresh:
            handler: refresh
            route: /refresh
            method: POST
            timeout: 2.5
            memory: 512
            environment:
              GREETING: hi
              SHARED: ""
              ONLY_REFRESH: "${SHARED}-x"
        """

    @Test func validFileAppliesDefaultsAndOverrides() throws {
        let manifest = try Manifest.parse(Self.sample, environment: ["SHARED": "s3"])
        #expect(manifest.functionNames == ["login", "refresh"])

        let login = try #require(manifest.function(named: "login"))
        #expect(login.handler == "login")
        #expect(login.route == "/login")
        #expect(login.methods == ["POST", "GET"])
        #expect(login.timeout == 5)
        #expect(login.memory == 256)
        #expect(login.environment == ["SHARED": "s3", "GREETING": "hello", "LITERAL": "pa$word$x"])

        let refresh = try #require(manifest.function(named: "refresh"))
        #expect(refresh.methods == ["POST"])
        #expect(refresh.timeout == 2.5)
        #expect(refresh.memory == 512)
        // An override with an empty value unsets the default's variable.
        #expect(refresh.environment == ["GREETING": "hi", "LITERAL": "pa$word$x", "ONLY_REFRESH": "s3-x"])
    }

    @Test func defaultsAreOptional() throws {
        let manifest = try Manifest.parse("functions:\n  f: {handler: f, route: /f, method: GET}\n")
        let function = try #require(manifest.function(named: "f"))
        #expect(function.timeout == Manifest.defaultTimeout)
        #expect(function.memory == Manifest.defaultMemory)
        #expect(function.concurrency == Manifest.defaultConcurrency)
        #expect(function.environment.isEmpty)
    }

    @Test func concurrencyComesFromDefaultsOrTheFunction() throws {
        let manifest = try Manifest.parse(
            "defaults: {concurrency: 3}\nfunctions:\n  f: {handler: f, route: /f, method: GET}\n"
                + "  g: {handler: g, route: /g, method: GET, concurrency: 1}\n"
        )
        #expect(manifest.function(named: "f")?.concurrency == 3)
        #expect(manifest.function(named: "g")?.concurrency == 1)
    }

    @Test func aRouteMayBeAListOfPathsEachClaimedOnce() throws {
        let manifest = try Manifest.parse(
            "functions:\n  j: {handler: j, route: [/a, /b], method: GET}\n  k: {handler: k, route: /c, method: GET}\n"
        )
        #expect(manifest.functions[0].routes == ["/a", "/b"] && manifest.functions[0].route == "/a")
        #expect(manifest.functions[1].routes == ["/c"])
        for text in [
            "functions:\n  j: {handler: j, route: [/a, /b], method: GET}\n  k: {handler: k, route: /b, method: GET}\n",
            "functions:\n  j: {handler: j, route: [], method: GET}\n",
            "functions:\n  j: {handler: j, route: [/a, b], method: GET}\n",
        ] {
            #expect(throws: ManifestError.self) { try Manifest.parse(text) }
        }
        var template = try SAMTemplate(manifestText: "functions:\n  j: {handler: j, route: [/a, /b], method: GET}\n")
        let yaml = template.render()
        #expect(yaml.contains("        Get:\n          Type: HttpApi\n          Properties:\n            Path: \"/a\""))
        #expect(
            yaml.contains("        Get2:\n          Type: HttpApi\n          Properties:\n            Path: \"/b\"")
        )
    }

    @Test func repositoryManifestMatchesTheBuiltInFunctions() throws {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("functions.yaml")
        let environment = ["WXAUTH_JWT_SECRET": "k", "WECHAT_APPID": "wx1", "UNRELATED": "x"]
        let manifest = try Manifest.load(from: url, environment: environment)
        #expect(
            manifest.functions.map { [$0.name, $0.handler, $0.route] }
                == Manifest.builtIn.functions.map { [$0.name, $0.handler, $0.route] }
        )
        #expect(manifest.functions.map(\.methods) == Manifest.builtIn.functions.map(\.methods))
        #expect(manifest.functions.map(\.routes) == Manifest.builtIn.functions.map(\.routes))
        let login = try #require(manifest.function(named: "login"))
        #expect(login.environment == ["WXAUTH_JWT_SECRET": "k", "WECHAT_APPID": "wx1"])
        #expect(login.timeout == 10)
        #expect(login.memory == 128)

        // Every CONTRACT §6 variable is passed through.
        let text = try String(contentsOf: url, encoding: .utf8)
        for name in [
            "WECHAT_APPID", "WECHAT_SECRET", "WECHAT_OA_APPID", "WECHAT_OA_SECRET", "WECHAT_WEB_APPID",
            "WECHAT_WEB_SECRET", "WECHAT_API_BASE", "WECHAT_OPEN_BASE", "WXAUTH_JWT_SECRET", "WXAUTH_ISSUER",
            "WXAUTH_AUDIENCE", "WXAUTH_ACCESS_TTL", "WXAUTH_REFRESH_TTL", "WXAUTH_DATABASE_URL",
            "WXAUTH_PUBLIC_URL", "WXAUTH_RETURN_TO",
        ] {
            #expect(text.contains("    \(name): ${\(name)"), "functions.yaml does not pass \(name)")
        }
    }

    // MARK: - Validation errors

    static let function = "functions:\n  f: {handler: f, route: /f, method: GET}\n"

    static let invalid: [(yaml: String, key: String?, line: Int?, message: String)] = [
        ("", nil, nil, "empty"),
        ("# only a comment\n", nil, nil, "empty"),
        ("functions: [a\n", nil, 2, "not valid YAML"),
        ("- a\n- b\n", nil, 1, "must be a mapping"),
        ("defaults: {timeout: 1}\n", nil, 1, "missing 'functions'"),
        ("functions:\n", "functions", 1, "at least one function"),
        ("functions: {}\n", "functions", 1, "at least one function"),
        ("functionz: {}\n" + function, "functionz", 1, "unknown key"),
        // A misspelt key over a block mapping is reported on its own line, not on the first line below it.
        ("functoins:\n  f: {handler: f, route: /f, method: GET}\n", "functoins", 1, "unknown key"),
        ("defaults:\n  environmnt:\n    A: b\n" + function, "defaults.environmnt", 2, "unknown key"),
        // libyaml's "found character that cannot start any token" for an (invisible) tab is named.
        ("functions:\n\tf: {handler: f, route: /f, method: GET}\n", nil, 2, "a tab character"),
        ("defaults:\n  timeout: 1\n  handler: x\n" + function, "defaults.handler", 3, "unknown key"),
        ("functions:\n  f: {handler: f, route: /f, method: GET, timout: 3}\n", "functions.f.timout", 2, "unknown key"),
        ("functions:\n  f: {route: /f, method: GET}\n", "functions.f", 2, "missing 'handler'"),
        ("functions:\n  f:\n", "functions.f", 2, "missing 'handler'"),
        ("functions:\n  f: {handler: f, method: GET}\n", "functions.f", 2, "missing 'route'"),
        ("functions:\n  f: {handler: f, route: /f}\n", "functions.f", 2, "missing 'method'"),
        ("functions:\n  f: {handler: bin/f, route: /f, method: GET}\n", "functions.f.handler", 2, "file name"),
        ("functions:\n  f: {handler: f, route: f, method: GET}\n", "functions.f.route", 2, "starting with '/'"),
        (
            "functions:\n  f: {handler: f, route: /f, method: FETCH}\n", "functions.f.method", 2,
            "'FETCH' is not an HTTP method"
        ),
        (
            "functions:\n  f: {handler: f, route: /f, method: [GET, 7x]}\n", "functions.f.method", 2,
            "not an HTTP method"
        ),
        ("functions:\n  f: {handler: f, route: /f, method: []}\n", "functions.f.method", 2, "at least one method"),
        ("functions:\n  f: {handler: f, route: /f, method: {GET: 1}}\n", "functions.f.method", 2, "method"),
        ("defaults: {timeout: 0}\n" + function, "defaults.timeout", 1, "positive number of seconds"),
        ("defaults: {timeout: -3}\n" + function, "defaults.timeout", 1, "positive number of seconds"),
        ("defaults: {timeout: soon}\n" + function, "defaults.timeout", 1, "positive number of seconds"),
        (
            "functions:\n  f: {handler: f, route: /f, method: GET, memory: 0}\n", "functions.f.memory", 2,
            "positive whole number"
        ),
        ("defaults: {memory: 1.5}\n" + function, "defaults.memory", 1, "positive whole number"),
        ("defaults: {concurrency: 0}\n" + function, "defaults.concurrency", 1, "positive whole number of requests"),
        (
            "functions:\n  f: {handler: f, route: /f, method: GET, concurrency: many}\n", "functions.f.concurrency", 2,
            "positive whole number of requests"
        ),
        ("defaults: {environment: [A]}\n" + function, "defaults.environment", 1, "must be a mapping"),
        ("defaults:\n  environment:\n    1BAD: x\n" + function, "defaults.environment.1BAD", 3, "variable name"),
        ("defaults:\n  environment:\n    A: ${B\n" + function, "defaults.environment.A", 3, "unterminated"),
        (
            "defaults:\n  environment:\n    A: ${B:=x}\n" + function, "defaults.environment.A", 3,
            "not a variable reference"
        ),
        ("defaults:\n  environment:\n    A: {b: c}\n" + function, "defaults.environment.A", 3, "must be a string"),
        ("functions:\n  bad name: {handler: f, route: /f, method: GET}\n", "functions.bad name", 2, "function name"),
        (
            "functions:\n  f: {handler: f, route: /f, method: GET}\n  g: {handler: g, route: /f, method: [POST, GET]}\n",
            "functions.g.route", 3, "GET /f is already the route of 'f'"
        ),
        (
            "functions:\n  f: {handler: f, route: /f, method: GET}\n  f: {handler: g, route: /g, method: GET}\n", nil,
            2, "duplicate key 'f'"
        ),
    ]

    @Test(arguments: 0..<invalid.count)
    func invalidManifestIsRejectedWithKeyAndLine(index: Int) {
        let case_ = Self.invalid[index]
        #expect(throws: ManifestError.self) { try Manifest.parse(case_.yaml, file: "conf/functions.yaml") }
        do {
            _ = try Manifest.parse(case_.yaml, file: "conf/functions.yaml")
        } catch {
            #expect(error.file == "conf/functions.yaml")
            #expect(error.key == case_.key, "\(error)")
            #expect(error.line == case_.line, "\(error)")
            #expect(error.message.contains(case_.message), "\(error)")
            #expect(error.description.hasPrefix("conf/functions.yaml"))
        }
    }

    @Test func errorDescriptionNamesFileLineAndKey() {
        let error = ManifestError(file: "functions.yaml", key: "functions.f.method", line: 12, message: "bad")
        #expect(error.description == "functions.yaml:12: functions.f.method: bad")
        #expect(ManifestError(file: "x.yaml", key: nil, line: nil, message: "empty").description == "x.yaml: empty")
    }

    @Test func missingFileIsReported() {
        let url = URL(fileURLWithPath: "/nonexistent/functions.yaml")
        #expect {
            try Manifest.load(from: url)
        } throws: { error in
            (error as? ManifestError)?.description.hasPrefix("/nonexistent/functions.yaml: cannot be read") == true
        }
    }

    // MARK: - Substitution

    @Test func substitution() throws {
        let environment = ["A": "1", "EMPTY": "", "URL": "postgres://u:p@h/db"]
        #expect(try Substitution.expand("${A}", environment: environment) == "1")
        #expect(try Substitution.expand("x${A}y${A}", environment: environment) == "x1y1")
        #expect(try Substitution.expand("${MISSING}", environment: environment) == "")
        #expect(try Substitution.expand("${MISSING:-dflt}", environment: environment) == "dflt")
        #expect(try Substitution.expand("${EMPTY:-dflt}", environment: environment) == "dflt")
        #expect(try Substitution.expand("${A:-dflt}", environment: environment) == "1")
        #expect(try Substitution.expand("${MISSING:-}", environment: environment) == "")
        #expect(try Substitution.expand("${MISSING:-a:-b}", environment: environment) == "a:-b")
        #expect(try Substitution.expand("${URL}", environment: environment) == "postgres://u:p@h/db")
        #expect(try Substitution.expand("$$ $A $", environment: environment) == "$ $A $")
        #expect(try Substitution.expand("no references", environment: environment) == "no references")
        #expect(throws: Substitution.Failure.self) { try Substitution.expand("${A", environment: environment) }
        #expect(throws: Substitution.Failure.self) { try Substitution.expand("${}", environment: environment) }
        #expect(throws: Substitution.Failure.self) { try Substitution.expand("${A-b}", environment: environment) }
        #expect(throws: Substitution.Failure.self) { try Substitution.expand("${9A}", environment: environment) }
    }
}
