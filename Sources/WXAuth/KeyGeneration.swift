import Crypto
import CryptoExtras
import Encodings
import FunctionRuntime

/// New private JWKs and key-set edits, for `local-runner keys` and tests. Never linked into a function's hot path.
package enum KeyGeneration {
    /// What `keys new --alg` accepts: the signing algorithms, and `A256GCM` for a `WXAUTH_DATA_KEYS` key.
    package static let algorithms = SigningAlgorithm.allCases.map(\.rawValue) + [dataKeyAlgorithm]
    package static let dataKeyAlgorithm = "A256GCM"

    package struct Failure: Error, CustomStringConvertible {
        package var description: String
    }

    /// A new private JWK (a JSON object's text) for `algorithm`; `kid` defaults to the algorithm and random hex.
    package static func newJWK(
        algorithm: String,
        kid: String?,
        random: some RandomSource = SystemRandomSource()
    ) throws(Failure)
        -> String
    {
        let kid = kid ?? algorithm.lowercased() + "-" + Hex.encode(random.bytes(8))
        var members: [(String, String)]
        switch algorithm {
        case SigningAlgorithm.es256.rawValue:
            let key = P256.Signing.PrivateKey()
            let point = Array(key.publicKey.x963Representation.dropFirst())
            members = [
                ("kty", "EC"), ("crv", "P-256"), ("x", b64(point[..<32])), ("y", b64(point[32...])),
                ("d", b64(key.rawRepresentation)),
            ]
        case SigningAlgorithm.eddsa.rawValue:
            let key = Curve25519.Signing.PrivateKey()
            members = [
                ("kty", "OKP"), ("crv", "Ed25519"), ("x", b64(key.publicKey.rawRepresentation)),
                ("d", b64(key.rawRepresentation)),
            ]
        case SigningAlgorithm.rs256.rawValue:
            guard let key = try? _RSA.Signing.PrivateKey(keySize: .bits2048),
                let numbers = PKCS1.integers(Array(key.derRepresentation)), numbers.count == 9
            else { throw Failure(description: "the RSA key could not be generated") }
            members = zip(["n", "e", "d", "p", "q", "dp", "dq", "qi"], numbers.dropFirst()).map { ($0, b64($1)) }
            members.insert(("kty", "RSA"), at: 0)
        case SigningAlgorithm.hs256.rawValue, dataKeyAlgorithm:
            members = [("kty", "oct"), ("k", b64(random.bytes(DataKeyring.keyBytes)))]
        default:
            throw Failure(description: "--alg must be one of " + algorithms.joined(separator: ", "))
        }
        members += [("kid", kid), ("alg", algorithm)]
        if algorithm != dataKeyAlgorithm { members.append(("use", "sig")) }
        return "{" + members.map { JSONText.quote($0.0) + ":" + JSONText.quote($0.1) }.joined(separator: ",") + "}"
    }

    /// A JWK Set of `first` followed by the keys of `existing` (a JWK Set's text), each written back as it was.
    package static func keySet(first: String, then existing: String?) throws(Failure) -> String {
        var items = [first]
        if let existing {
            guard let root = try? EventJSON.parse(Array(existing.utf8)), case .array(let keys)? = root["keys"] else {
                throw Failure(description: "the file is not a JWK Set ({\"keys\": [ … ]})")
            }
            items += keys.map(serialized)
        }
        return "{\"keys\":[\n" + items.joined(separator: ",\n") + "\n]}\n"
    }

    /// The `alg` of a JWK Set's first key, so a rotation keeps the algorithm unless told otherwise.
    package static func firstAlgorithm(of text: String) -> String? {
        guard let root = try? EventJSON.parse(Array(text.utf8)), case .array(let keys)? = root["keys"],
            case .string(let algorithm)? = keys.first?["alg"]
        else { return nil }
        return algorithm
    }

    private static func serialized(_ value: EventJSON) -> String {
        switch value {
        case .object(let members):
            "{" + members.map { JSONText.quote($0.0) + ":" + serialized($0.1) }.joined(separator: ",") + "}"
        case .array(let items): "[" + items.map(serialized).joined(separator: ",") + "]"
        case .string(let text): JSONText.quote(text)
        case .number(let text): text
        case .bool(let flag): flag ? "true" : "false"
        case .null: "null"
        }
    }

    private static func b64(_ bytes: some Sequence<UInt8>) -> String { Base64URL.encode(Array(bytes)) }
}

/// Just enough DER to read a PKCS#1 RSAPrivateKey: a SEQUENCE of INTEGERs, as big-endian magnitudes.
enum PKCS1 {
    static func integers(_ der: [UInt8]) -> [[UInt8]]? {
        var index = 0
        guard let sequence = element(der, &index, tag: 0x30), index == der.count else { return nil }
        var inner = 0
        var numbers: [[UInt8]] = []
        while inner < sequence.count {
            guard let integer = element(sequence, &inner, tag: 0x02) else { return nil }
            numbers.append(Array(integer.drop { $0 == 0 }))
        }
        return numbers
    }

    private static func element(_ bytes: [UInt8], _ index: inout Int, tag: UInt8) -> [UInt8]? {
        guard index + 2 <= bytes.count, bytes[index] == tag else { return nil }
        var length = Int(bytes[index + 1])
        index += 2
        if length & 0x80 != 0 {
            let count = length & 0x7F
            guard count >= 1, count <= 3, index + count <= bytes.count else { return nil }
            length = bytes[index..<index + count].reduce(0) { $0 << 8 | Int($1) }
            index += count
        }
        guard length <= bytes.count - index else { return nil }
        defer { index += length }
        return Array(bytes[index..<index + length])
    }
}
