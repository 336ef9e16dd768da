import Foundation
import TestSupport
import Testing

/// `local-runner keys new | rotate | public`, run as a user runs them.
@Suite(.enabled(if: builtLocalRunner != nil, "local-runner is not built"))
struct KeysCommandTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wxauth-keys-\(UUID().uuidString)")

    func keys(_ arguments: [String]) async throws -> CommandLineTests.Run {
        try await CommandLineTests().localRunner(["keys"] + arguments)
    }

    func set(_ text: String) throws -> [[String: String]] {
        try decodeJSON(KeySet.self, from: text).keys
    }

    func mode(_ path: String) throws -> Int? {
        try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
    }

    @Test func newWritesOnePrivateKeyReadableByItsOwnerAloneAndNeverOverwrites() async throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let toStdout = try await keys(["new"])
        #expect(toStdout.status == 0)
        let generated = try set(toStdout.stdout)
        #expect(
            generated.count == 1 && generated[0]["alg"] == "ES256" && generated[0]["kty"] == "EC"
                && generated[0]["d"] != nil
        )
        #expect(generated[0]["kid"]?.hasPrefix("es256-") == true && generated[0]["use"] == "sig")

        let path = directory.appendingPathComponent("signing.json").path
        #expect(try await keys(["new", "--alg", "RS256", "--kid", "r1", "--output", path]).status == 0)
        #expect(try mode(path) == 0o600)
        let rsa = try set(String(contentsOfFile: path, encoding: .utf8))
        #expect(rsa[0]["kid"] == "r1" && ["n", "e", "d", "p", "q", "dp", "dq", "qi"].allSatisfy { rsa[0][$0] != nil })
        let again = try await keys(["new", "--output", path])
        #expect(again.status != 0 && again.stderr.contains("keys rotate"))
        #expect(
            try set(String(contentsOfFile: path, encoding: .utf8))[0]["kid"] == "r1",
            "the existing set is untouched"
        )

        let data = try set(try await keys(["new", "--alg", "A256GCM"]).stdout)
        #expect(data[0]["kty"] == "oct" && data[0]["use"] == nil && data[0]["k"]?.count == 43)
        let unknown = try await keys(["new", "--alg", "HS512"])
        #expect(unknown.status != 0 && unknown.stderr.contains("--alg must be one of"))
    }

    @Test func rotatePutsANewKeyFirstAndPublicPrintsOnlyPublicMembers() async throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("signing.json").path
        #expect(try await keys(["new", "--alg", "EdDSA", "--kid", "one", "--output", path]).status == 0)
        #expect(try await keys(["rotate", "--file", path, "--kid", "two"]).status == 0)
        #expect(try await keys(["rotate", "--file", path, "--alg", "HS256", "--kid", "three"]).status == 0)
        let rotated = try set(String(contentsOfFile: path, encoding: .utf8))
        #expect(rotated.map { $0["kid"] } == ["three", "two", "one"])
        #expect(
            rotated.map { $0["alg"] } == ["HS256", "EdDSA", "EdDSA"],
            "a rotation keeps the first key's algorithm unless told"
        )
        #expect(try mode(path) == 0o600)
        #expect(!FileManager.default.fileExists(atPath: path + ".new"))

        let published = try await keys(["public", "--file", path])
        #expect(published.status == 0)
        let jwks = try set(published.stdout)
        #expect(jwks.map { $0["kid"] } == ["two", "one"], "HS256 keys are never published")
        #expect(jwks.allSatisfy { $0["d"] == nil && $0["k"] == nil && $0["kty"] == "OKP" && $0["x"] != nil })

        let dataPath = directory.appendingPathComponent("data.json").path
        #expect(try await keys(["new", "--alg", "A256GCM", "--output", dataPath]).status == 0)
        #expect(try await keys(["rotate", "--file", dataPath]).status == 0)
        #expect(try set(String(contentsOfFile: dataPath, encoding: .utf8)).map { $0["alg"] } == ["A256GCM", "A256GCM"])
        let notSigning = try await keys(["public", "--file", dataPath])
        #expect(notSigning.status != 0 && notSigning.stderr.contains("WXAUTH_SIGNING_KEYS"))
        let dataKey = try set(String(contentsOfFile: dataPath, encoding: .utf8))[0]["k"] ?? "?"
        assertNoSecrets([dataKey], in: notSigning.stderr)
    }
}
