import ArgumentParser
import Crypto
import Foundation

/// `local-runner sign`: the four headers of a signed `admin` request (CONTRACT §9), for scripts.
struct SignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Print the headers that sign an admin request (X-Wxauth-Key-Id, -Timestamp, -Nonce, -Signature).",
        discussion: """
            The signature is lower-case hex HMAC-SHA256, under the first key of the JWK Set in --keys, of
              METHOD \\n PATH \\n TIMESTAMP \\n NONCE \\n hex(SHA-256(body))
            Sign exactly the body you send and the path the function sees. For example:
              curl -X POST http://127.0.0.1:8787/admin/introspect --data @body.json \\
                $(./local-runner sign POST /admin/introspect --body body.json --keys admin-keys.json | sed 's/: /:/; s/^/-H /')
            """
    )

    @Argument(help: "The HTTP method, e.g. POST.")
    var method: String

    @Argument(help: "The request path, e.g. /admin/introspect.")
    var path: String

    @Option(help: "The file holding the exact request body (- for stdin); none for an empty body.")
    var body: String?

    @Option(help: "A JWK Set of oct keys (the WXAUTH_ADMIN_KEYS value); its first key signs.")
    var keys: String

    func run() throws {
        let (keyId, key) = try Self.firstKey(of: keys)
        let bodyBytes: [UInt8]
        switch body {
        case nil: bodyBytes = []
        case "-": bodyBytes = Array(FileHandle.standardInput.readDataToEndOfFile())
        case let path?:
            guard let data = FileManager.default.contents(atPath: path) else {
                Console.error("local-runner: cannot read the body file \(path): it does not exist or is not readable")
                throw ExitCode(2)
            }
            bodyBytes = Array(data)
        }
        let timestamp = String(Int64(Date().timeIntervalSince1970))
        let nonce = Self.nonce()
        let canonical = [method.uppercased(), path, timestamp, nonce, Self.hex(Array(SHA256.hash(data: bodyBytes)))]
            .joined(separator: "\n")
        let signature = Self.hex(Array(HMAC<SHA256>.authenticationCode(for: Array(canonical.utf8), using: key)))
        print("X-Wxauth-Key-Id: \(keyId)")
        print("X-Wxauth-Timestamp: \(timestamp)")
        print("X-Wxauth-Nonce: \(nonce)")
        print("X-Wxauth-Signature: \(signature)")
    }

    /// The first `oct` key of a JWK Set file, with its kid.
    static func firstKey(of path: String) throws -> (String, SymmetricKey) {
        guard let data = FileManager.default.contents(atPath: path) else {
            Console.error("local-runner: cannot read the keys file \(path): it does not exist or is not readable")
            throw ExitCode(2)
        }
        guard let set = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let first = (set["keys"] as? [[String: Any]])?.first, first["kty"] as? String == "oct",
            let kid = first["kid"] as? String, let k = first["k"] as? String,
            let bytes = Data(base64Encoded: base64(fromURL: k)), bytes.count >= 32
        else {
            Console.error(
                "local-runner: \(path) must be a JWK Set whose first key is oct, with a kid and a base64url k of at least 32 bytes"
            )
            throw ExitCode(2)
        }
        return (kid, SymmetricKey(data: bytes))
    }

    /// 32 characters of [A-Za-z0-9_-] (24 random bytes, base64url).
    static func nonce() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<24).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    static func base64(fromURL text: String) -> String {
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while standard.count % 4 != 0 { standard += "=" }
        return standard
    }
}
