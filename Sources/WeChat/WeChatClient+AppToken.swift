import FunctionRuntime

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An app-level access token from `/cgi-bin/stable_token`.
public struct AppAccessToken: Sendable {
    /// The token; it goes in the `access_token` query parameter of app-level APIs.
    public var token: Secret
    /// Seconds the token has left, as WeChat counted when it answered (at most 7200).
    public var expiresIn: Int

    public init(token: Secret, expiresIn: Int) {
        self.token = token
        self.expiresIn = expiresIn
    }
}

/// A user's phone number as WeChat reports it (`phone_info`).
public struct PhoneInfo: Sendable, Hashable {
    /// The number as the user bound it; foreign numbers carry their country code.
    public var phoneNumber: String
    /// The number without country code.
    public var purePhoneNumber: String
    /// The country code, e.g. `86`. WeChat documents a string but its example sends a number: both are read.
    public var countryCode: String?
    /// The app the answer was made for.
    public var watermarkAppid: String?
    /// When WeChat made the answer, in seconds since the epoch.
    public var watermarkTimestamp: Int?

    public init(
        phoneNumber: String,
        purePhoneNumber: String,
        countryCode: String?,
        watermarkAppid: String?,
        watermarkTimestamp: Int?
    ) {
        self.phoneNumber = phoneNumber
        self.purePhoneNumber = purePhoneNumber
        self.countryCode = countryCode
        self.watermarkAppid = watermarkAppid
        self.watermarkTimestamp = watermarkTimestamp
    }

    /// Reads the fields of `phone_info` (or of old-style decrypted phone data); nil without a phone number.
    init?(object: JSONObject, watermark: JSONObject?) {
        guard let phoneNumber = object.string("phoneNumber"), !phoneNumber.isEmpty else { return nil }
        let pure = object.string("purePhoneNumber").flatMap { $0.isEmpty ? nil : $0 }
        self.init(
            phoneNumber: phoneNumber,
            purePhoneNumber: pure ?? phoneNumber,
            countryCode: object.string("countryCode").flatMap { $0.isEmpty ? nil : $0 },
            watermarkAppid: watermark?.string("appid"),
            watermarkTimestamp: watermark?.int("timestamp")
        )
    }
}

extension WeChatClient {
    /// Gets the app access token from `POST /cgi-bin/stable_token`.
    ///
    /// Unlike `/cgi-bin/token`, the normal mode hands every caller the same token until its last five
    /// minutes, so many instances can call it without invalidating each other's token. `forceRefresh`
    /// replaces the token at once (the old one lives five more minutes); WeChat allows that 20 times a
    /// day, 30 s apart, so use it only after WeChat refused the current token (40001, 40014, 42001).
    /// Fetching a token consumes nothing, so failures that may have reached WeChat are retried too.
    public func stableAccessToken(
        appid: String,
        secret: Secret,
        forceRefresh: Bool = false,
        deadline: ContinuousClock.Instant
    ) async throws(WeChatError) -> AppAccessToken {
        let endpoint = "/cgi-bin/stable_token"
        let body = Self.json([
            "grant_type": .string("client_credential"), "appid": .string(appid), "secret": .string(secret.revealed),
            "force_refresh": .bool(forceRefresh),
        ])
        let request = WeChatHTTPRequest(
            method: "POST",
            url: apiBase + endpoint,
            headers: [("content-type", "application/json")],
            body: body
        )
        let object = try await send(request, endpoint: endpoint, idempotent: true, deadline: deadline)
        guard let token = object.string("access_token"), !token.isEmpty else {
            throw WeChatError(.invalidResponse("no access_token"), endpoint: endpoint)
        }
        let expiresIn = try object.expiresIn(endpoint: endpoint)
        return AppAccessToken(token: Secret(token), expiresIn: expiresIn)
    }

    /// Trades a `getPhoneNumber` code for the user's phone number (`POST /wxa/business/getuserphonenumber`).
    ///
    /// Phone codes are single-use, so this call is not idempotent. The app token rides in the URL, which
    /// is never logged; 40001, 40014 and 42001 come back as ``WeChatError/Category/appTokenInvalid``.
    /// With `openid`, WeChat checks that the code was issued to that user and refuses another user's code
    /// (40003, ``WeChatError/Category/invalidParameter``).
    public func userPhoneNumber(
        appAccessToken: Secret,
        code: String,
        openid: String?,
        deadline: ContinuousClock.Instant
    ) async throws(WeChatError) -> PhoneInfo {
        let endpoint = "/wxa/business/getuserphonenumber"
        var body: [String: BodyValue] = ["code": .string(code)]
        if let openid { body["openid"] = .string(openid) }
        let request = WeChatHTTPRequest(
            method: "POST",
            url: apiBase + endpoint + "?" + Self.query([("access_token", appAccessToken.revealed)]),
            headers: [("content-type", "application/json")],
            body: Self.json(body)
        )
        let object = try await send(request, endpoint: endpoint, idempotent: false, deadline: deadline)
        guard let phone = object.object("phone_info"),
            let info = PhoneInfo(object: phone, watermark: phone.object("watermark"))
        else {
            throw WeChatError(.invalidResponse("no phone_info.phoneNumber"), endpoint: endpoint)
        }
        return info
    }

    /// A JSON request body of string and boolean members.
    static func json(_ members: [String: BodyValue]) -> [UInt8] {
        (try? JSONEncoder().encode(members)).map(Array.init) ?? []
    }

    /// A member of a request body.
    enum BodyValue: Encodable {
        case string(String)
        case bool(Bool)

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .string(let text): try container.encode(text)
            case .bool(let flag): try container.encode(flag)
            }
        }
    }
}
