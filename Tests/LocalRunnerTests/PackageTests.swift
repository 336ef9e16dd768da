import BlockingSocket
import Foundation
import TestSupport
import Testing
import Yams

@testable import LocalRunner

/// The repository root (where functions.yaml and .build live).
private let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

private let repositoryManifest = repositoryRoot.appendingPathComponent("functions.yaml")

/// The directory holding a built `login`: the release build `package` uses when there is
/// one, else the debug build beside these tests (CI builds debug only; a debug binary runs here just the same).
private let builtBinaries: URL? = {
    for configuration in ["release", "debug"] {
        let directory = repositoryRoot.appendingPathComponent(".build/\(configuration)", isDirectory: true)
        if ["login"].allSatisfy({
            FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent($0).path)
        }) {
            return directory
        }
    }
    return nil
}()

private func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("package-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Runs a command found on PATH with `stdin`; status and stdout. The command may exit without reading stdin.
private func run(
    _ arguments: [String],
    stdin: String = "",
    environment: [String: String]? = nil
) async throws -> (
    status: Int32, stdout: String
) {
    let run = try await runChildProcess(
        URL(fileURLWithPath: "/usr/bin/env"),
        arguments: arguments,
        stdin: .text(stdin),
        environment: environment
    )
    return (run.status, run.stdout)
}

@Suite("local-runner package")
struct PackageTests {
    /// The rendered template, parsed (tags such as `!Ref` kept on the nodes).
    func template(_ sam: inout SAMTemplate) throws -> (text: String, node: Node) {
        let text = sam.render()
        return (text, try #require(try Yams.compose(yaml: text)))
    }

    @Test func repositoryTemplateDescribesEveryFunction() throws {
        let manifest = try Manifest.load(from: repositoryManifest, environment: [:])
        var sam = try SAMTemplate(manifestAt: repositoryManifest, architecture: "x86_64")
        let (text, root) = try template(&sam)
        #expect(root["Transform"]?.string == "AWS::Serverless-2016-10-31")
        #expect(sam.warnings.isEmpty)
        for function in manifest.functions {
            let id = SAMTemplate.pascalCase(function.name) + "Function"
            let resource = try #require(root["Resources"]?[id], "no \(id) in\n\(text)")
            #expect(resource["Type"]?.string == "AWS::Serverless::Function")
            let properties = try #require(resource["Properties"])
            #expect(properties["Runtime"]?.string == "provided.al2023")
            #expect(properties["Handler"]?.string == function.handler)
            #expect(properties["Architectures"]?.array().compactMap(\.string) == ["x86_64"])
            #expect(properties["CodeUri"]?.string == "\(function.name).zip")
            #expect(properties["MemorySize"]?.int == function.memory)
            #expect(properties["Timeout"]?.int == Int(function.timeout))
            let variables = try #require(properties["Environment"]?["Variables"])
            #expect(variables["WXAUTH_FUNCTION_TIMEOUT"]?.string == Invocation.secondsText(function.timeout))
            // Secrets are references to parameters, never values.
            #expect(variables["WXAUTH_JWT_SECRET"]?.tag.description == "!Ref")
            #expect(variables["WECHAT_SECRET"]?.tag.description == "!If")
            #expect(variables["WECHAT_SECRET_FILE"] == nil)
            #expect(variables["WXAUTH_DATABASE_URL_FILE"] == nil)
            let events = try #require(properties["Events"]?.mapping)
            let routes = events.map { _, event in
                (event["Type"]?.string, event["Properties"]?["Path"]?.string, event["Properties"]?["Method"]?.string)
            }
            #expect(routes.count == function.methods.count * function.routes.count)
            for method in function.methods {
                for route in function.routes {
                    #expect(routes.contains { $0 == ("HttpApi", route, method.lowercased()) }, "\(routes)")
                }
            }
        }
        let parameters = try #require(root["Parameters"])
        for name in ["WechatSecret", "WechatOaSecret", "WechatWebSecret", "WxauthJwtSecret"] {
            #expect(parameters[name]?["NoEcho"]?.bool == true, "\(name)")
            #expect(parameters[name]?["Type"]?.string == "String")
        }
        #expect(parameters["WxauthJwtSecret"]?["Default"] == nil, "the JWT secret must be set at deploy time")
        #expect(parameters["WxauthDatabaseUrl"]?["NoEcho"]?.bool == true, "a database URL holds a password")
        // Optional to the template, but a Lambda deployment needs a shared database: the template says so.
        #expect(parameters["WxauthDatabaseUrl"]?["Description"]?.string?.contains("shared PostgreSQL") == true)
        // Settings of the deployment are parameters too, visible, defaulting to the manifest's `:-` default.
        for name in ["WechatAppid", "WxauthPublicUrl", "WxauthReturnTo", "WechatApiBase"] {
            #expect(parameters[name]?["NoEcho"] == nil, "\(name)")
            #expect(parameters[name]?["Default"]?.string == "", "\(name)")
        }
        let login = try #require(root["Resources"]?["LoginFunction"]?["Properties"]?["Environment"]?["Variables"])
        #expect(login["WECHAT_APPID"]?.tag.description == "!If")
        #expect(!(parameters.mapping?.keys.contains { $0.string?.hasSuffix("File") == true } ?? true))
        #expect(root["Outputs"]?["HttpApiUrl"]?["Value"]?.string?.contains("${ServerlessHttpApi}") == true)
    }

    @Test func environmentRulesAndLambdaLimits() throws {
        var sam = try SAMTemplate(
            manifestText: """
                defaults:
                  timeout: 2.5
                  memory: 64
                  environment:
                    PLAIN: literal value
                    WITH_DEFAULT: ${WITH_DEFAULT:-fallback}
                    EMPTY_DEFAULT: ${EMPTY_DEFAULT:-}
                    NO_DEFAULT: ${NO_DEFAULT}
                    API_SECRET: hunter2-literal
                    API_SECRET_FILE: /run/secrets/api
                functions:
                  my-fn: {handler: my-fn, route: "/things/{id}", method: ANY}
                  other_fn:
                    handler: other
                    route: /other
                    method: [get, delete]
                    timeout: 30
                    memory: 512
                    environment: {PLAIN: overridden}
                """,
            architecture: "arm64"
        )
        let (text, root) = try template(&sam)
        assertNoSecrets(["hunter2"], in: text)
        #expect(!text.contains("/run/secrets"))
        let my = try #require(root["Resources"]?["MyFnFunction"]?["Properties"], "\(text)")
        #expect(my["Architectures"]?.array().compactMap(\.string) == ["arm64"])
        #expect(my["Timeout"]?.int == 3)
        #expect(my["MemorySize"]?.int == 128)
        #expect(sam.warnings.count == 2, "\(sam.warnings)")
        let variables = try #require(my["Environment"]?["Variables"])
        #expect(variables["PLAIN"]?.string == "literal value")
        #expect(variables["WITH_DEFAULT"]?.tag.description == "!If")
        #expect(root["Parameters"]?["WithDefault"]?["Default"]?.string == "fallback")
        #expect(variables["EMPTY_DEFAULT"]?.tag.description == "!If", "set only when the deployment gives a value")
        #expect(root["Parameters"]?["EmptyDefault"]?["Default"]?.string == "")
        #expect(variables["NO_DEFAULT"]?.tag.description == "!Ref", "no default: the deployment must set it")
        #expect(root["Parameters"]?["NoDefault"]?["MinLength"]?.int == 1)
        #expect(variables["API_SECRET"]?.tag.description == "!Ref", "a literal secret becomes a required parameter")
        #expect(variables["WXAUTH_FUNCTION_TIMEOUT"]?.string == "2.5")
        let event = try #require(my["Events"]?.mapping?.first?.value)
        #expect(event["Properties"]?["Method"]?.string == "any")
        #expect(event["Properties"]?["Path"]?.string == "/things/{id}")
        let other = try #require(root["Resources"]?["OtherFnFunction"]?["Properties"])
        #expect(other["Environment"]?["Variables"]?["PLAIN"]?.string == "overridden")
        #expect(other["Timeout"]?.int == 30)
        #expect(other["MemorySize"]?.int == 512)
        #expect(other["Events"]?.mapping?.count == 2)
        #expect(root["Parameters"]?["ApiSecret"]?["NoEcho"]?.bool == true)
    }

    @Test func templateOnlyWritesJustTheTemplate() throws {
        let output = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: output) }
        let summary = try Packager(
            manifest: repositoryManifest,
            functions: ["login", "refresh"],
            output: output,
            build: false,
            zips: false,
            progress: { _ in }
        ).run()
        let files = try FileManager.default.contentsOfDirectory(atPath: output.path)
        #expect(files == ["template.yaml"])
        #expect(summary.count == 1)
        let text = try String(contentsOf: output.appendingPathComponent("template.yaml"), encoding: .utf8)
        #expect(text.contains("LoginFunction:") && text.contains("RefreshFunction:"))
        #expect(!text.contains("CallbackFunction:"), "only the named functions are described")
    }

    @Test func unknownFunctionIsAnError() throws {
        let output = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: output) }
        #expect(throws: PackageError.self) {
            try Packager(
                manifest: repositoryManifest,
                functions: ["nope"],
                output: output,
                build: false,
                zips: false,
                progress: { _ in }
            ).run()
        }
    }

    @Test(.enabled(if: builtLocalRunner != nil, "local-runner is not built"))
    func cliTemplateOnly() async throws {
        let output = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: output) }
        let result = try await run([
            try #require(builtLocalRunner).path, "package", "--template-only", "--manifest", repositoryManifest.path,
            "--output", output.path,
        ])
        #expect(result.status == 0)
        #expect(result.stdout.contains("template.yaml"))
        #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent("template.yaml").path))
    }

    @Test(.enabled(if: builtBinaries != nil, "skipped: login is not built (swift build --build-tests builds it)"))
    func zipHoldsAnExecutableBootstrapThatServesTheLambdaRuntimeAPI() async throws {
        let output = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: output) }
        // Zipping a debug binary takes seconds of CPU: on a thread of its own, not a cooperative one.
        let summary = try await onOwnThread {
            try Packager(
                manifest: repositoryManifest,
                functions: ["login"],
                output: output,
                build: false,
                zips: true,
                database: .both,
                binaries: builtBinaries,
                progress: { _ in }
            ).run()
        }
        #expect(summary.first?.contains("login.zip") == true)
        #expect(summary.first?.hasSuffix("MB") == true, "\(summary)")
        let zip = output.appendingPathComponent("login.zip")
        let listing = try await run(["unzip", "-Z", zip.path])
        #expect(listing.status == 0)
        let entry = try #require(listing.stdout.split(separator: "\n").first { $0.hasSuffix(" bootstrap") })
        #expect(entry.hasPrefix("-rwx"), "\(entry)")
        // The bootstrap alone: it opens SQLite and PostgreSQL in its own process.
        #expect(listing.stdout.contains("number of entries: 1"))

        let unpacked = output.appendingPathComponent("unpacked")
        #expect(try await run(["unzip", "-q", zip.path, "-d", unpacked.path]).status == 0)
        let bootstrap = unpacked.appendingPathComponent("bootstrap")
        #expect(FileManager.default.isExecutableFile(atPath: bootstrap.path))
        let environment = ["PATH": "/usr/bin:/bin", "WXAUTH_JWT_SECRET": String(repeating: "k", count: 32)]

        // Without AWS_LAMBDA_RUNTIME_API the binary reads one event from stdin and writes the response.
        let answer = try await run([bootstrap.path], stdin: "{}\n", environment: environment)
        #expect(answer.status == 0)
        #expect(throws: Never.self) { try decodeJSON(ProxyResponse.self, from: answer.stdout) }

        // With a PostgreSQL URL the function still answers the empty body with its own 400 (no database needed
        // for that): the store connects on its first operation, never at start-up.
        var onPostgres = environment
        onPostgres["WXAUTH_DATABASE_URL"] = "postgres://wxauth:pw@127.0.0.1:9/wxauth"
        let handedOff = try await run(
            [bootstrap.path],
            stdin: #"{"rawPath":"/login","requestContext":{"http":{"method":"POST"}}}"#,
            environment: onPostgres
        )
        #expect(try decodeJSON(ProxyResponse.self, from: handedOff.stdout).statusCode == 400, "\(handedOff.stdout)")

        // As Lambda runs it: the runtime loop polls a runtime API and posts each response back.
        let spec = FunctionSpec(name: "login", handler: "bootstrap", route: "/login", methods: ["POST"], timeout: 5)
        let instance = try await WarmInstance.start(
            function: spec,
            executable: bootstrap,
            environment: environment,
            stderr: { _ in }
        )
        let event = #"{"version":"2.0","rawPath":"/login","requestContext":{"http":{"method":"POST"}},"body":"{}"}"#
        for index in 0..<2 {
            let reply = await instance.invoke(requestID: "package-test-\(index)", event: Array(event.utf8))
            guard case .response(let payload) = reply else {
                Issue.record("expected a response, got \(reply)")
                break
            }
            // An empty body has no code: the function's own 400, answered through the runtime API.
            #expect(try decodeJSON(ProxyResponse.self, from: payload).statusCode == 400)
        }
        await instance.stop()
    }

    @Test(arguments: Packager.Database.allCases)
    func everyDatabaseOptionZipsTheBootstrapAlone(database: Packager.Database) {
        let packager = Packager(
            manifest: repositoryManifest,
            functions: ["login"],
            output: URL(fileURLWithPath: "/nonexistent"),
            build: false,
            zips: true,
            database: database
        )
        #expect(packager.entries(for: "login").map(\.name) == ["bootstrap"])
        #expect(packager.entries(for: "login").map(\.executable) == ["login"])
    }
}
