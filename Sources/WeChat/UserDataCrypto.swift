import Crypto
import CryptoExtras
import FunctionRuntime

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// MARK: - Errors

/// Why mini-program `encryptedData` could not be opened or was not trusted.
///
/// The text names the input at fault and, for the common client mistakes, what the client did wrong;
/// it never contains the session_key, the ciphertext or the decrypted data.
public struct UserDataError: Error, Sendable, CustomStringConvertible {
    /// Which check failed. New kinds may be added.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        enum Code: String, Hashable, Sendable {
            case invalidBase64 = "invalid_base64"
            case looksURLEncoded = "looks_url_encoded"
            case badKeyLength = "bad_key_length"
            case badIVLength = "bad_iv_length"
            case badCiphertextLength = "bad_ciphertext_length"
            case badPadding = "bad_padding"
            case notJSON = "not_json"
            case watermarkMismatch = "watermark_mismatch"
            case watermarkExpired = "watermark_expired"
        }

        let code: Code

        /// A stable snake_case name, e.g. `bad_padding`.
        public var description: String { code.rawValue }

        /// `encryptedData` or `iv` is not standard, padded base64.
        public static let invalidBase64 = Kind(code: .invalidBase64)
        /// The base64 was URL-encoded (`%2B`, `%2F`, `%3D`) or had `+` turned into spaces by the client.
        public static let looksURLEncoded = Kind(code: .looksURLEncoded)
        /// The session_key is not base64 of 16 bytes (an AES-128 key).
        public static let badKeyLength = Kind(code: .badKeyLength)
        /// `iv` does not decode to 16 bytes.
        public static let badIVLength = Kind(code: .badIVLength)
        /// The ciphertext is empty or not a whole number of 16-byte blocks (truncated).
        public static let badCiphertextLength = Kind(code: .badCiphertextLength)
        /// The PKCS#7 padding is wrong after decryption: a wrong (stale) session_key or tampered data.
        public static let badPadding = Kind(code: .badPadding)
        /// The plaintext is not a JSON object.
        public static let notJSON = Kind(code: .notJSON)
        /// `watermark.appid` is missing or is another app's.
        public static let watermarkMismatch = Kind(code: .watermarkMismatch)
        /// `watermark.timestamp` is missing or outside the allowed window around now.
        public static let watermarkExpired = Kind(code: .watermarkExpired)
    }

    /// Which check failed.
    public let kind: Kind
    /// The input at fault (`encryptedData`, `iv`, `session_key`), or nil when the decrypted content is.
    public let field: String?
    private let message: String

    init(_ kind: Kind, field: String? = nil, _ message: String) {
        self.kind = kind
        self.field = field
        self.message = message
    }

    public var description: String { message }
}

// MARK: - Decrypted data

/// The `watermark` WeChat puts in every encrypted payload: which app it was made for, and when.
public struct UserDataWatermark: Sendable, Hashable {
    public var appid: String
    /// Seconds since the epoch.
    public var timestamp: Int

    public init(appid: String, timestamp: Int) {
        self.appid = appid
        self.timestamp = timestamp
    }
}

/// Decrypted mini-program data whose watermark has been checked.
///
/// ``json`` is the plaintext exactly as WeChat encrypted it; the accessors read the profile fields of
/// `getUserInfo` data and the phone fields of old-style `getPhoneNumber` data when present.
public struct DecryptedUserData: Sendable {
    /// The plaintext: a UTF-8 JSON object, byte for byte.
    public let json: [UInt8]
    /// The checked watermark.
    public let watermark: UserDataWatermark
    let object: JSONObject

    public var openId: String? { object.string("openId") }
    public var unionId: String? { object.string("unionId") }
    public var nickName: String? { object.string("nickName") }
    public var avatarUrl: String? { object.string("avatarUrl") }
    /// 0 unknown, 1 male, 2 female.
    public var gender: Int? { object.int("gender") }
    public var city: String? { object.string("city") }
    public var province: String? { object.string("province") }
    public var country: String? { object.string("country") }
    public var language: String? { object.string("language") }

    /// The phone number, for data from the old encrypted `getPhoneNumber` (nil when absent).
    public var phoneInfo: PhoneInfo? {
        PhoneInfo(object: object, watermark: object.object("watermark"))
    }

    /// A top-level field as text (numbers are written out), for payloads the accessors do not cover.
    public func string(_ key: String) -> String? { object.string(key) }

    /// A top-level integer field.
    public func int(_ key: String) -> Int? { object.int(key) }
}

// MARK: - Decryption

/// Opens mini-program `encryptedData` (`wx.getUserInfo`, `getWeRunData`, share info, old `getPhoneNumber`).
///
/// WeChat encrypts with AES-128-CBC and PKCS#7; the key is the base64-decoded session_key and the IV comes
/// with the data. CBC has no integrity of its own, so the plaintext is trusted only after its
/// `watermark.appid` proves it was made for this app and its `watermark.timestamp` proves it is recent.
public enum UserDataCrypto {
    /// Decrypts and checks `encryptedData`.
    ///
    /// - Parameters:
    ///   - encryptedData: base64 ciphertext as the mini-program received it.
    ///   - iv: base64 initialisation vector (16 bytes).
    ///   - sessionKey: the user's current session_key (base64 of 16 bytes).
    ///   - appid: the app the data must be for.
    ///   - now: the current time.
    ///   - window: how far `watermark.timestamp` may be from `now`, either way (clocks drift).
    public static func decrypt(
        encryptedData: String,
        iv: String,
        sessionKey: Secret,
        appid: String,
        now: Date,
        window: Duration
    ) throws(UserDataError) -> DecryptedUserData {
        let ciphertext = try decodeInput(encryptedData, field: "encryptedData")
        let ivBytes = try decodeInput(iv, field: "iv")
        guard ivBytes.count == 16 else {
            throw UserDataError(.badIVLength, field: "iv", "iv must decode to 16 bytes, not \(ivBytes.count)")
        }
        let key = try keyBytes(sessionKey)
        guard !ciphertext.isEmpty, ciphertext.count % 16 == 0 else {
            throw UserDataError(
                .badCiphertextLength,
                field: "encryptedData",
                "encryptedData must decode to a whole number of 16-byte blocks, not \(ciphertext.count) bytes; "
                    + "it was probably truncated"
            )
        }
        let plaintext: [UInt8]
        do {
            let vector = try AES._CBC.IV(ivBytes: ivBytes)
            plaintext = Array(try AES._CBC.decrypt(ciphertext, using: SymmetricKey(data: key), iv: vector))
        } catch {
            // Lengths were checked above, so the only failure left is the padding: almost always a key that
            // does not belong to this data, i.e. a stale session_key.
            throw UserDataError(
                .badPadding,
                field: "encryptedData",
                "encryptedData did not decrypt with this session_key (bad padding): the session_key is stale "
                    + "(a later wx.login replaced it) or the data was altered"
            )
        }
        guard let object = JSONObject(bytes: plaintext) else {
            throw UserDataError(.notJSON, "the decrypted data is not a JSON object")
        }
        let watermark = try checkWatermark(object.object("watermark"), appid: appid, now: now, window: window)
        return DecryptedUserData(json: plaintext, watermark: watermark, object: object)
    }

    /// Encrypts `plaintext` as WeChat does, for fakes and tests of code that consumes `encryptedData`.
    ///
    /// - Returns: base64 `encryptedData` and `iv`.
    public static func encrypt(
        _ plaintext: [UInt8],
        sessionKey: Secret,
        iv: [UInt8]
    ) throws(UserDataError) -> (encryptedData: String, iv: String) {
        let key = try keyBytes(sessionKey)
        guard iv.count == 16, let vector = try? AES._CBC.IV(ivBytes: iv) else {
            throw UserDataError(.badIVLength, field: "iv", "iv must be 16 bytes, not \(iv.count)")
        }
        guard let ciphertext = try? AES._CBC.encrypt(plaintext, using: SymmetricKey(data: key), iv: vector) else {
            throw UserDataError(.badKeyLength, field: "session_key", "the session_key is not an AES-128 key")
        }
        return (Data(ciphertext).base64EncodedString(), Data(iv).base64EncodedString())
    }

    // MARK: Steps

    /// Strict base64, with a diagnosis of the two ways clients commonly mangle it.
    static func decodeInput(_ text: String, field: String) throws(UserDataError) -> [UInt8] {
        if let bytes = StrictBase64.decode(text) { return bytes }
        let upper = text.uppercased()
        if upper.contains("%2B") || upper.contains("%2F") || upper.contains("%3D") {
            throw UserDataError(
                .looksURLEncoded,
                field: field,
                "\(field) is URL-encoded (it contains %2B, %2F or %3D): the client URL-encoded the base64 text; "
                    + "send it unchanged, e.g. as a JSON string"
            )
        }
        if text.contains(" ") {
            throw UserDataError(
                .looksURLEncoded,
                field: field,
                "\(field) contains spaces where base64 has '+': the client turned '+' into spaces "
                    + "(form or query decoding); send it unchanged, e.g. as a JSON string"
            )
        }
        throw UserDataError(.invalidBase64, field: field, "\(field) is not valid base64")
    }

    static func keyBytes(_ sessionKey: Secret) throws(UserDataError) -> [UInt8] {
        guard let key = StrictBase64.decode(sessionKey.revealed), key.count == 16 else {
            throw UserDataError(.badKeyLength, field: "session_key", "the session_key is not base64 of 16 bytes")
        }
        return key
    }

    static func checkWatermark(
        _ watermark: JSONObject?,
        appid: String,
        now: Date,
        window: Duration
    ) throws(UserDataError) -> UserDataWatermark {
        guard let watermark, let markedAppid = watermark.string("appid") else {
            throw UserDataError(.watermarkMismatch, "the decrypted data has no watermark.appid")
        }
        // The appid is not secret, but it is attacker-chosen text: it stays out of the message.
        guard markedAppid == appid else {
            throw UserDataError(.watermarkMismatch, "the decrypted data was made for another app (watermark.appid)")
        }
        guard let timestamp = watermark.int("timestamp") else {
            throw UserDataError(.watermarkExpired, "the decrypted data has no watermark.timestamp")
        }
        let allowed = Double(window.components.seconds) + Double(window.components.attoseconds) * 1e-18
        let distance = abs(now.timeIntervalSince1970 - Double(timestamp))
        guard distance <= allowed else {
            throw UserDataError(
                .watermarkExpired,
                "the decrypted data is stale: watermark.timestamp is \(Int(min(distance, 1e15))) s from now, "
                    + "more than the \(Int(min(allowed, 1e15))) s allowed"
            )
        }
        return UserDataWatermark(appid: markedAppid, timestamp: timestamp)
    }
}

// MARK: - Helpers

extension JSONObject {
    /// A nested object.
    func object(_ key: String) -> JSONObject? {
        if case .object(let members) = values[key] { return JSONObject(members: members) }
        return nil
    }
}

/// Standard base64 (RFC 4648 §4) with padding, nothing else: no whitespace, no URL alphabet.
///
/// Strict on purpose: a lenient decoder would turn a mangled input into a confusing padding error.
enum StrictBase64 {
    static func decode(_ text: String) -> [UInt8]? {
        let input = Array(text.utf8)
        guard input.count % 4 == 0 else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(input.count / 4 * 3)
        var index = 0
        while index < input.count {
            var quad: UInt32 = 0
            var padding = 0
            for offset in 0..<4 {
                let character = input[index + offset]
                var value: UInt8 = 0
                if character == UInt8(ascii: "=") {
                    // Padding only in the last two places of the last quad.
                    guard index + 4 == input.count, offset >= 2 else { return nil }
                    padding += 1
                } else {
                    guard padding == 0, let decoded = sextet(character) else { return nil }
                    value = decoded
                }
                quad = quad << 6 | UInt32(value)
            }
            output.append(UInt8(truncatingIfNeeded: quad >> 16))
            if padding < 2 { output.append(UInt8(truncatingIfNeeded: quad >> 8)) }
            if padding < 1 { output.append(UInt8(truncatingIfNeeded: quad)) }
            index += 4
        }
        return output
    }

    private static func sextet(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): character - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): character - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }
}
