import Crypto
import CryptoExtras

/// PostgreSQL's MD5 password answer: `"md5" + md5hex(md5hex(password + user) + salt)`.
package func postgresMD5Password(user: String, password: String, salt: some Collection<UInt8>) -> String {
    let inner = hex(Insecure.MD5.hash(data: Array(password.utf8) + Array(user.utf8)))
    return "md5" + hex(Insecure.MD5.hash(data: Array(inner.utf8) + Array(salt)))
}

private func hex(_ digest: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var text: [UInt8] = []
    for byte in digest {
        text.append(digits[Int(byte >> 4)])
        text.append(digits[Int(byte & 0xF)])
    }
    return String(decoding: text, as: UTF8.self)
}

/// The client side of SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it: no channel binding (`n,,`),
/// an empty user name (the server uses the start-up message's). The password is used as is (no SASLprep), which
/// is exact for the ASCII passwords deployments generate.
package struct SCRAMClient {
    /// The most PBKDF2 rounds a server may ask for: PostgreSQL's default is 4,096; far more would only let a
    /// hostile server make each cold start burn CPU.
    package static let maximumIterations = 100_000

    private let password: [UInt8]
    private let clientNonce: String
    private var clientFirstBare: String
    private var expectedServerSignature: [UInt8]?

    /// `user` is empty for PostgreSQL, which takes the start-up message's; `nonce` is random printable text
    /// without commas. Tests pass RFC 7677's.
    package init(user: String = "", password: String, nonce: String? = nil) {
        self.password = Array(password.utf8)
        clientNonce = nonce ?? Self.randomNonce()
        clientFirstBare = "n=" + user + ",r=" + clientNonce
    }

    /// The client-first-message (`n,,n=,r=…`).
    package var clientFirstMessage: String { "n,," + clientFirstBare }

    /// The client-final-message answering the server-first-message; remembers the signature the server must send.
    package mutating func clientFinalMessage(serverFirst: String) throws(PostgresWireError) -> String {
        var nonce: Substring?
        var salt: [UInt8]?
        var iterations: Int?
        for attribute in serverFirst.split(separator: ",") {
            let value = attribute.dropFirst(2)
            if attribute.hasPrefix("r=") { nonce = value }
            if attribute.hasPrefix("s=") { salt = Base64.decode(value) }
            if attribute.hasPrefix("i=") { iterations = Int(value) }
        }
        guard let nonce, let salt, let iterations else {
            throw PostgresWireError("the server's SCRAM challenge is malformed")
        }
        guard nonce.hasPrefix(clientNonce), nonce.count > clientNonce.count else {
            throw PostgresWireError("the server's SCRAM nonce does not extend the client's")
        }
        guard (1...Self.maximumIterations).contains(iterations) else {
            throw PostgresWireError("the server asks for an unreasonable SCRAM iteration count")
        }
        let salted: SymmetricKey
        do {
            salted = try KDF.Insecure.PBKDF2.deriveKey(
                from: password,
                salt: salt,
                using: .sha256,
                outputByteCount: 32,
                unsafeUncheckedRounds: iterations
            )
        } catch {
            throw PostgresWireError("cannot derive the SCRAM key")
        }
        let clientKey = Array(HMAC<SHA256>.authenticationCode(for: Array("Client Key".utf8), using: salted))
        let storedKey = Array(SHA256.hash(data: clientKey))
        let withoutProof = "c=biws,r=" + nonce
        let authMessage = Array((clientFirstBare + "," + serverFirst + "," + withoutProof).utf8)
        let clientSignature = Array(
            HMAC<SHA256>.authenticationCode(for: authMessage, using: SymmetricKey(data: storedKey))
        )
        let proof = zip(clientKey, clientSignature).map { $0 ^ $1 }
        let serverKey = HMAC<SHA256>.authenticationCode(for: Array("Server Key".utf8), using: salted)
        expectedServerSignature = Array(
            HMAC<SHA256>.authenticationCode(for: authMessage, using: SymmetricKey(data: serverKey))
        )
        return withoutProof + ",p=" + Base64.encode(proof)
    }

    /// Checks the server-final-message (`v=…`): the server proves it knows the password too. Constant time.
    package func verify(serverFinal: String) throws(PostgresWireError) {
        guard let expected = expectedServerSignature, serverFinal.hasPrefix("v="),
            let signature = Base64.decode(serverFinal.dropFirst(2).prefix { $0 != "," }),
            signature.count == expected.count
        else {
            throw PostgresWireError("the server's SCRAM signature is malformed")
        }
        var difference: UInt8 = 0
        for (left, right) in zip(signature, expected) { difference |= left ^ right }
        guard difference == 0 else { throw PostgresWireError("the server could not prove it knows the password") }
    }

    private static func randomNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        return Base64.encode((0..<18).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }
}

/// Standard base64 (with padding), as SCRAM uses it.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var value: UInt32 = 0
            for (offset, byte) in chunk.enumerated() { value |= UInt32(byte) << (16 - 8 * UInt32(offset)) }
            for position in 0..<4 {
                out.append(
                    position <= chunk.count
                        ? alphabet[Int((value >> (18 - 6 * UInt32(position))) & 63)] : UInt8(ascii: "=")
                )
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: Substring) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        var value: UInt32 = 0
        var bits = 0
        for (offset, character) in characters.enumerated() {
            if character == UInt8(ascii: "=") {
                // Padding only at the end.
                guard offset >= characters.count - 2, characters[offset...].allSatisfy({ $0 == UInt8(ascii: "=") })
                else { return nil }
                break
            }
            guard let digit = alphabet.firstIndex(of: character) else { return nil }
            value = value << 6 | UInt32(digit)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: value >> UInt32(bits)))
            }
        }
        return out
    }
}
