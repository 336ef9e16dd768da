import Foundation
import Testing
import Yams

@testable import LocalRunner

/// `local-runner package --platform scf`'s serverless.yml, parsed and held against functions.yaml.
@Suite struct SCFTemplateTests {
    static let manifestURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("functions.yaml")

    /// The documents of the serverless.yml written for `names` (every function when empty).
    func documents(_ names: [String] = []) throws -> (text: String, documents: [[String: Any]]) {
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
        let documents = try Yams.load_all(yaml: text).map { try #require($0 as? [String: Any]) }
        return (text, documents)
    }

    @Test func oneSCFInstancePerFunctionOfTheManifest() throws {
        let manifest = try Manifest.load(from: Self.manifestURL, environment: [:])
        let (_, documents) = try documents()
        #expect(documents.count == manifest.functions.count)
        for (function, document) in zip(manifest.functions, documents) {
            #expect(document["component"] as? String == "scf")
            #expect(document["name"] as? String == function.name)
            let inputs = try #require(document["inputs"] as? [String: Any])
            #expect(inputs["runtime"] as? String == "CustomRuntime")
            #expect(inputs["type"] as? String == "event")
            #expect(inputs["handler"] as? String == function.handler)
            #expect(inputs["src"] as? String == "./\(function.name).zip")
            #expect(inputs["memorySize"] as? Int == function.memory)
            #expect(inputs["timeout"] as? Int == Int(function.timeout))
            #expect((inputs["description"] as? String)?.hasSuffix(function.routes.joined(separator: " ")) == true)
            let events = try #require(inputs["events"] as? [[String: Any]])
            #expect(events.count == 1)
            let http = try #require(events.first?["http"] as? [String: Any])
            let parameters = try #require(http["parameters"] as? [String: Any])
            #expect(parameters["authType"] as? String == "NONE")
            #expect((parameters["netConfig"] as? [String: Any])?["enableExtranet"] as? Bool == true)
            let variables = try #require((inputs["environment"] as? [String: Any])?["variables"] as? [String: String])
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
        #expect(!text.contains("scf-template-secret-value-must-not-leak"))
    }

    @Test func memoryAndTimeoutAreFittedToSCFsLimits() throws {
        let text = """
            functions:
              small: { handler: login, route: /small, method: POST, memory: 100, timeout: 2.5 }
              huge:  { handler: login, route: /huge,  method: POST, memory: 4096 }
            """
        var template = SCFTemplate(try SAMTemplate(manifestText: text))
        let documents = try Yams.load_all(yaml: template.render()).map { $0 as? [String: Any] }
        let inputs = documents.map { $0?["inputs"] as? [String: Any] }
        #expect(inputs.map { $0?["memorySize"] as? Int } == [128, 3072])
        #expect(inputs.first??["timeout"] as? Int == 3)
        #expect(template.warnings.count == 3)
        #expect(SCFTemplate.memory(64) == 64 && SCFTemplate.memory(129) == 256)
    }
}
