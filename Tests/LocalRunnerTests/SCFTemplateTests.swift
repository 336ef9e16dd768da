import Foundation
import TestSupport
import Testing
import Yams

@testable import LocalRunner

/// `local-runner package --platform scf`'s serverless.yml, parsed and held against functions.yaml.
@Suite struct SCFTemplateTests {
    static let manifestURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("functions.yaml")

    /// One instance of serverless.yml (Serverless Cloud Framework's `component: scf`), as CONTRACT §7 describes it.
    struct SCFInstance: Decodable {
        struct Inputs: Decodable {
            struct Event: Decodable {
                struct HTTP: Decodable {
                    struct Parameters: Decodable {
                        struct NetConfig: Decodable {
                            var enableExtranet: Bool
                        }

                        var authType: String
                        var netConfig: NetConfig
                    }

                    var parameters: Parameters
                }

                var http: HTTP
            }

            struct Environment: Decodable {
                var variables: [String: String]
            }

            var runtime: String
            var type: String
            var handler: String
            var src: String
            var memorySize: Int
            var timeout: Int
            var description: String
            var events: [Event]
            var environment: Environment
        }

        var component: String
        var name: String
        var inputs: Inputs
    }

    /// The documents of a serverless.yml.
    func instances(_ text: String) throws -> [SCFInstance] {
        try Yams.compose_all(yaml: text).map { try YAMLDecoder().decode(SCFInstance.self, from: $0) }
    }

    /// The documents of the serverless.yml written for `names` (every function when empty).
    func documents(_ names: [String] = []) throws -> (text: String, documents: [SCFInstance]) {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("scf-template-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: output) }
        _ = try Packager(
            manifest: Self.manifestURL,
            functions: names,
            output: output,
            build: false,
            zips: false,
            platform: .scf,
            progress: { _ in }
        ).run()
        #expect(!FileManager.default.fileExists(atPath: output.appendingPathComponent("template.yaml").path))
        let text = try String(contentsOf: output.appendingPathComponent("serverless.yml"), encoding: .utf8)
        return (text, try instances(text))
    }

    @Test func oneSCFInstancePerFunctionOfTheManifest() throws {
        let manifest = try Manifest.load(from: Self.manifestURL, environment: [:])
        let (_, documents) = try documents()
        #expect(documents.count == manifest.functions.count)
        for (function, document) in zip(manifest.functions, documents) {
            #expect(document.component == "scf")
            #expect(document.name == function.name)
            let inputs = document.inputs
            #expect(inputs.runtime == "CustomRuntime")
            #expect(inputs.type == "event")
            #expect(inputs.handler == function.handler)
            #expect(inputs.src == "./\(function.name).zip")
            #expect(inputs.memorySize == function.memory)
            #expect(inputs.timeout == Int(function.timeout))
            #expect(inputs.description.hasSuffix(function.routes.joined(separator: " ")))
            #expect(inputs.events.count == 1)
            let parameters = try #require(inputs.events.first).http.parameters
            #expect(parameters.authType == "NONE")
            #expect(parameters.netConfig.enableExtranet == true)
            let variables = inputs.environment.variables
            #expect(variables["WXAUTH_FUNCTION_NAME"] == function.name)
            #expect(variables["WXAUTH_FUNCTION_TIMEOUT"] != nil)
            #expect(variables["WXAUTH_JWT_SECRET"] == "${env:WXAUTH_JWT_SECRET}")
            #expect(variables["WECHAT_SECRET"] == "${env:WECHAT_SECRET}")
            #expect(variables["WXAUTH_DATABASE_URL"] == "${env:WXAUTH_DATABASE_URL}")
            #expect(variables.keys.allSatisfy { !$0.hasSuffix("_FILE") })
        }
    }

    @Test func secretsInThePackagersEnvironmentNeverReachTheFile() throws {
        setenv("WXAUTH_JWT_SECRET", "scf-template-secret-value-must-not-leak-0123", 1)
        defer { unsetenv("WXAUTH_JWT_SECRET") }
        let (text, documents) = try documents(["refresh"])
        #expect(documents.count == 1)
        assertNoSecrets(["scf-template-secret-value-must-not-leak-0123"], in: text)
    }

    @Test func memoryAndTimeoutAreFittedToSCFsLimits() throws {
        let text = """
            functions:
              small: { handler: login, route: /small, method: POST, memory: 100, timeout: 2.5 }
              huge:  { handler: login, route: /huge,  method: POST, memory: 4096 }
            """
        var template = SCFTemplate(try SAMTemplate(manifestText: text))
        let inputs = try instances(template.render()).map(\.inputs)
        #expect(inputs.map(\.memorySize) == [128, 3072])
        #expect(inputs.first?.timeout == 3)
        #expect(template.warnings.count == 3)
        #expect(SCFTemplate.memory(64) == 64 && SCFTemplate.memory(129) == 256)
    }
}
