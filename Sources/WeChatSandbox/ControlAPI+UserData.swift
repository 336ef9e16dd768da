import Crypto
import CryptoExtras
import Encodings
import Foundation
import Hummingbird
import NIOCore

/// Control endpoints that play the mini-program's part for user data: `getPhoneNumber` codes and
/// `encryptedData` as `wx.getUserInfo` would return it.
extension ControlAPI {
    static func registerUserData(on router: Router<SandboxRequestContext>, state: SandboxState) {
        router.post("/sandbox/phone-codes") { request, _ in
            try await mintPhoneCode(request, state: state)
        }
        router.post("/sandbox/encrypted-data") { request, _ in
            try await encryptedData(request, state: state)
        }
    }

    // MARK: Phone codes

    struct MintPhoneCodeRequest: Decodable {
        var appid: String
        var user: String?
        var phone: String?
        var countryCode: String?
    }

    struct MintedPhoneCode: Encodable {
        var code: String
        var appid: String
        var user: String
        var phoneNumber: String
        var purePhoneNumber: String
        var countryCode: String
    }

    /// The number every test user has unless told otherwise.
    static let defaultPhone = "13800138000"

    static func mintPhoneCode(_ request: Request, state: SandboxState) async throws -> Response {
        let mint: MintPhoneCodeRequest
        switch await decode(MintPhoneCodeRequest.self, from: request) {
        case .success(let decoded): mint = decoded
        case .failure(let refusal): return try refusal.response()
        }
        if let user = mint.user, user.isEmpty {
            return try Reply.controlError("user must not be empty")
        }
        let phone = mint.phone ?? defaultPhone
        let countryCode = mint.countryCode ?? "86"
        guard (5...20).contains(phone.count), phone.allSatisfy(\.isASCIIDigit) else {
            return try Reply.controlError("phone must be 5 to 20 digits, without country code")
        }
        guard (1...4).contains(countryCode.count), countryCode.allSatisfy(\.isASCIIDigit) else {
            return try Reply.controlError("countryCode must be 1 to 4 digits, e.g. \"86\"")
        }
        let user = mint.user ?? TestUsers.randomUserName()
        guard
            let issued = await state.mintPhoneCode(
                appid: mint.appid,
                user: user,
                purePhoneNumber: phone,
                countryCode: countryCode
            )
        else {
            return try Reply.controlError("unknown appid \(mint.appid); register it with POST /sandbox/apps")
        }
        return try Reply.json(
            MintedPhoneCode(
                code: issued.code,
                appid: issued.appid,
                user: issued.user,
                phoneNumber: issued.phoneNumber,
                purePhoneNumber: issued.purePhoneNumber,
                countryCode: issued.countryCode
            ),
            status: .created
        )
    }

    // MARK: Encrypted data

    struct SealedUserData: Encodable {
        var encryptedData: String
        var iv: String
        var rawData: String
        var signature: String
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        // WeChat writes avatar URLs with plain slashes; rawData must match byte for byte.
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    /// Encrypts `data` (or the user's default profile) with the user's latest session_key, as WeChat
    /// does for `wx.getUserInfo`, and signs its rawData.
    static func encryptedData(_ request: Request, state: SandboxState) async throws -> Response {
        let body: [String: Any]
        switch await jsonObject(from: request) {
        case .success(let object): body = object
        case .failure(let refusal): return try refusal.response()
        }
        guard let appid = body["appid"] as? String, !appid.isEmpty,
            let openid = body["openid"] as? String, !openid.isEmpty
        else {
            return try Reply.controlError("appid and openid are required strings")
        }
        guard let sessionKey = await state.sessionKey(appid: appid, openid: openid),
            let key = Data(base64Encoded: sessionKey), key.count == 16
        else {
            return try Reply.controlError(
                "no session for that appid and openid; exchange a code at /sns/jscode2session first",
                status: .notFound
            )
        }
        let timestamp = Int(state.clock.now().timeIntervalSince1970.rounded(.down))

        let plaintext: Data
        let rawData: Data
        if let given = body["data"] {
            guard var data = given as? [String: Any] else { return try Reply.controlError("data must be an object") }
            rawData = try JSONSerialization.data(withJSONObject: data, options: [.withoutEscapingSlashes])
            // A watermark given by the test is kept, so foreign or stale ones can be played.
            if data["watermark"] == nil {
                data["watermark"] = ["timestamp": timestamp, "appid": appid]
            }
            plaintext = try JSONSerialization.data(withJSONObject: data, options: [.withoutEscapingSlashes])
        } else {
            let known = await state.knownUser(openid: openid)
            let profile = try defaultProfile(user: known?.user)
            rawData = Data(object(profile).utf8)
            var full = [("openId", try fragment(openid))] + profile
            if let unionid = known?.unionid {
                full.append(("unionId", try fragment(unionid)))
            }
            full.append(("watermark", object([("timestamp", String(timestamp)), ("appid", try fragment(appid))])))
            plaintext = Data(object(full).utf8)
        }

        let iv = AES._CBC.IV()
        let ciphertext = try AES._CBC.encrypt(plaintext, using: SymmetricKey(data: key), iv: iv)
        let rawText = String(decoding: rawData, as: UTF8.self)
        return try Reply.json(
            SealedUserData(
                encryptedData: ciphertext.base64EncodedString(),
                iv: Data(Array(iv)).base64EncodedString(),
                rawData: rawText,
                signature: sha1Hex(rawText + sessionKey)
            )
        )
    }

    /// The rawData fields of a test user's profile, in WeChat's order: stable per name, so tests can expect it.
    static func defaultProfile(user: String?) throws -> [(String, String)] {
        let name = user ?? "微信用户"
        let avatar = TestUsers.avatarURL(user: name)
        return [
            ("nickName", try fragment(name)), ("gender", "1"), ("language", try fragment("zh_CN")),
            ("city", try fragment("Guangzhou")), ("province", try fragment("Guangdong")),
            ("country", try fragment("CN")), ("avatarUrl", try fragment(avatar)),
        ]
    }

    /// A JSON object with its keys in the given order, as WeChat writes them; Foundation's encoders do not
    /// keep order on Linux. Values are JSON text.
    private static func object(_ fields: [(String, String)]) -> String {
        "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    /// `value` as JSON text.
    private static func fragment(_ value: String) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    private static func sha1Hex(_ text: String) -> String {
        Hex.encode(Insecure.SHA1.hash(data: Array(text.utf8)))
    }

    /// The body as a JSON object of any shape.
    private static func jsonObject(from request: Request) async -> Result<[String: Any], Refusal> {
        guard let buffer = try? await request.body.collect(upTo: maxBodySize) else {
            return .failure(Refusal(message: "body larger than \(maxBodySize) bytes", status: .contentTooLarge))
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any]
        else {
            return .failure(Refusal(message: "body must be a JSON object"))
        }
        return .success(object)
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { self.isASCII && self.isNumber }
}
