import FunctionRuntime
import WXAuthStore
import WeChat

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What a mini-program may send beside its code at sign-in (CONTRACT §4).
public struct SharedUserData: Sendable {
    /// `wx.getUserInfo`'s encrypted profile, with its IV.
    public var encryptedData: String?
    public var iv: String?
    /// `wx.getUserInfo`'s plain profile and its signature, sha1(rawData + session_key).
    public var rawData: String?
    public var signature: String?
    /// A `getPhoneNumber` code.
    public var phoneCode: String?

    public init(
        encryptedData: String? = nil,
        iv: String? = nil,
        rawData: String? = nil,
        signature: String? = nil,
        phoneCode: String? = nil
    ) {
        self.encryptedData = encryptedData
        self.iv = iv
        self.rawData = rawData
        self.signature = signature
        self.phoneCode = phoneCode
    }

    /// How far a payload's `watermark.timestamp` may be from now.
    static let watermarkWindow: Duration = .seconds(900)

    /// Refuses halves of a pair before WeChat is called, so a client mistake costs no code.
    func validate() throws(AuthError) {
        if (encryptedData == nil) != (iv == nil) {
            throw .invalidRequest("encryptedData and iv must be sent together")
        }
        if (rawData == nil) != (signature == nil) {
            throw .invalidRequest("rawData and signature must be sent together")
        }
    }

    /// The profile (and unionid) the payloads carry, checked against the user's session_key.
    func profile(sessionKey: Secret, appid: String, now: Int64) throws(AuthError) -> (UserProfile, String?) {
        var profile = UserProfile()
        var unionid: String?
        if let rawData, let signature {
            guard RawDataSignature.isValid(signature, rawData: rawData, sessionKey: sessionKey) else {
                throw .invalidRequest("signature does not match rawData (sha1 of rawData + session_key)")
            }
            // Parsed like every other untrusted JSON (RFC 8259, strictly); a rawData that is not an object adds nothing.
            if case .object(let members)? = try? EventJSON.parse(Array(rawData.utf8)) {
                profile = profile.merging(Self.profile(members: members))
            }
        }
        if let encryptedData, let iv {
            let data = try Self.decrypt(
                encryptedData: encryptedData,
                iv: iv,
                sessionKey: sessionKey,
                appid: appid,
                now: now
            )
            profile = profile.merging(
                UserProfile(
                    nickname: data.nickName,
                    picture: data.avatarUrl,
                    gender: data.gender,
                    city: data.city,
                    province: data.province,
                    country: data.country,
                    language: data.language
                )
            )
            unionid = data.unionId.flatMap { $0.isEmpty ? nil : $0 }
        }
        return (profile, unionid)
    }

    /// Decrypts a payload with the watermark checked; every failure is a 400 that says what went wrong.
    static func decrypt(
        encryptedData: String,
        iv: String,
        sessionKey: Secret,
        appid: String,
        now: Int64
    )
        throws(AuthError) -> DecryptedUserData
    {
        do {
            return try UserDataCrypto.decrypt(
                encryptedData: encryptedData,
                iv: iv,
                sessionKey: sessionKey,
                appid: appid,
                now: Date(timeIntervalSince1970: Double(now)),
                window: watermarkWindow
            )
        } catch {
            // The kind leads (e.g. `bad_padding: …`) so clients can tell the failures apart by machine too.
            throw .invalidRequest("\(error.kind): \(error.description)")
        }
    }

    /// The profile fields of `rawData` (the same names as in encrypted data); a field of another type is left out.
    static func profile(members: [(String, EventJSON)]) -> UserProfile {
        func member(_ name: String) -> EventJSON? { members.first { $0.0 == name }?.1 }
        func string(_ name: String) -> String? {
            if case .string(let text)? = member(name) { return text }
            return nil
        }
        var gender: Int?
        if case .number(let text)? = member("gender") { gender = Int(text) }
        return UserProfile(
            nickname: string("nickName"),
            picture: string("avatarUrl"),
            gender: gender,
            city: string("city"),
            province: string("province"),
            country: string("country"),
            language: string("language")
        )
    }
}
