import ArgumentParser
import Crypto
import Encodings
import Foundation
import WXAuth

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
        let text: String
        do {
            text = try LocalFile.text(keys)
        } catch {
            Console.error("local-runner: cannot read the keys file \(keys): \(error.reason)")
            throw ExitCode(2)
        }
        let signer: (kid: String, key: SymmetricKey)
        do {
            signer = try AdminKeys(jwkSet: text).signer
        } catch {
            Console.error("local-runner: \(keys): \(error.description)")
            throw ExitCode(2)
        }
        let bodyBytes: [UInt8]
        switch body {
        case nil: bodyBytes = []
        case "-": bodyBytes = Array(FileHandle.standardInput.readDataToEndOfFile())
        case let path?:
            do {
                bodyBytes = try LocalFile.read(path)
            } catch {
                Console.error("local-runner: cannot read the body file \(path): \(error.reason)")
                throw ExitCode(2)
            }
        }
        let timestamp = String(Int64(Date().timeIntervalSince1970))
        let nonce = Self.nonce()
        let signature = SignedRequest.signature(
            key: signer.key,
            method: method.uppercased(),
            path: path,
            timestamp: timestamp,
            nonce: nonce,
            body: bodyBytes
        )
        print("X-Wxauth-Key-Id: \(signer.kid)")
        print("X-Wxauth-Timestamp: \(timestamp)")
        print("X-Wxauth-Nonce: \(nonce)")
        print("X-Wxauth-Signature: \(signature)")
    }

    /// 32 characters of [A-Za-z0-9_-] (24 random bytes, base64url).
    static func nonce() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<24).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Base64URL.encode(bytes)
    }
}
