import Foundation
import Hummingbird
import Logging
import NIOCore

extension WeChatEndpoint {
    /// `POST /cgi-bin/stable_token`: the app access token that many instances can share.
    static let stableToken = WeChatEndpoint(path: "/cgi-bin/stable_token", methods: [.get, .post]) {
        request,
        context,
        state in
        guard request.method == .post else { return try Reply.wechatError(43002, "require POST method") }
        return try await AppTokenEndpoints.stableToken(request: request, state: state, logger: context.logger)
    }

    /// `POST /wxa/business/getuserphonenumber`: a `getPhoneNumber` code for the user's phone number.
    static let getUserPhoneNumber = WeChatEndpoint(
        path: "/wxa/business/getuserphonenumber",
        methods: [.get, .post]
    ) { request, context, state in
        guard request.method == .post else { return try Reply.wechatError(43002, "require POST method") }
        return try await AppTokenEndpoints.getUserPhoneNumber(request: request, state: state, logger: context.logger)
    }
}

/// The app-token APIs and the one app-level API the sandbox serves with them.
enum AppTokenEndpoints {
    /// WeChat bodies are small JSON; anything bigger is refused as malformed.
    static let maxBodySize = 64 * 1024

    struct StableTokenRequest: Decodable {
        var grant_type: String?
        var appid: String?
        var secret: String?
        var force_refresh: Bool?
    }

    struct TokenBody: Encodable {
        var access_token: String
        var expires_in: Int
    }

    static func stableToken(request: Request, state: SandboxState, logger: Logger) async throws -> Response {
        // The API takes only a JSON body (WECHAT.md A1); query parameters are not read.
        guard let body = await decodeBody(StableTokenRequest.self, from: request) else {
            return try Reply.wechatError(47001, "data format error")
        }
        guard let appid = body.appid, !appid.isEmpty else { return try Reply.wechatError(41002, "appid missing") }
        guard let secret = body.secret, !secret.isEmpty else {
            return try Reply.wechatError(41004, "appsecret missing")
        }
        guard let app = await state.app(appid) else { return try Reply.wechatError(40013, "invalid appid") }
        guard app.secret == secret else { return try Reply.wechatError(40125, "invalid appsecret") }
        guard body.grant_type == "client_credential" else { return try Reply.wechatError(40002, "invalid grant_type") }

        let forceRefresh = body.force_refresh ?? false
        switch await state.stableToken(appid: appid, forceRefresh: forceRefresh) {
        case .issued(let token, let expiresIn):
            logger.debug(
                "stable_token answered",
                metadata: ["wechat.appid": "\(appid)", "sandbox.force_refresh": "\(forceRefresh)"]
            )
            return try Reply.json(TokenBody(access_token: token, expires_in: expiresIn))
        case .dailyQuotaReached:
            return try Reply.wechatError(45009, "reach max api daily quota limit")
        case .tooFrequent:
            return try Reply.wechatError(45011, "api minute-quota reach limit  mustslower  retry next minute")
        }
    }

    struct PhoneNumberRequest: Decodable {
        var code: String?
        /// Optional: when given, WeChat checks that the code was issued to this user.
        var openid: String?
    }

    struct PhoneNumberBody: Encodable {
        var errcode = 0
        var errmsg = "ok"
        var phone_info: PhoneInfoBody
    }

    struct PhoneInfoBody: Encodable {
        var phoneNumber: String
        var purePhoneNumber: String
        var countryCode: String
        var watermark: Watermark
    }

    struct Watermark: Encodable {
        var timestamp: Int
        var appid: String
    }

    static func getUserPhoneNumber(request: Request, state: SandboxState, logger: Logger) async throws -> Response {
        guard let token = request.uri.queryParameters.nonEmpty("access_token") else {
            return try Reply.wechatError(41001, "access_token missing")
        }
        let appid: String
        switch await state.checkAppToken(token) {
        case .live(let owner): appid = owner
        case .expired: return try Reply.wechatError(42001, "access_token expired")
        case .invalid: return try Reply.wechatError(40001, "invalid credential, access_token is invalid or not latest")
        }
        guard let body = await decodeBody(PhoneNumberRequest.self, from: request) else {
            return try Reply.wechatError(47001, "data format error")
        }
        guard let code = body.code, !code.isEmpty else { return try Reply.wechatError(41008, "missing code") }

        let openid = body.openid.flatMap { $0.isEmpty ? nil : $0 }
        switch await state.redeemPhoneCode(code, appid: appid, openid: openid) {
        case .wrongUser:
            logger.debug("getuserphonenumber refused another user's code", metadata: ["wechat.appid": "\(appid)"])
            return try Reply.wechatError(40003, "invalid openid")
        case .invalid, .alreadyUsed, .expired:
            logger.debug("getuserphonenumber refused a code", metadata: ["wechat.appid": "\(appid)"])
            return try Reply.wechatError(40029, "invalid code")
        case .redeemed(let issued):
            let now = Int(state.clock.now().timeIntervalSince1970.rounded(.down))
            return try Reply.json(
                PhoneNumberBody(
                    phone_info: PhoneInfoBody(
                        phoneNumber: issued.phoneNumber,
                        purePhoneNumber: issued.purePhoneNumber,
                        countryCode: issued.countryCode,
                        watermark: Watermark(timestamp: now, appid: appid)
                    )
                )
            )
        }
    }

    /// The body as `T`, or nil when it is too big or not that JSON.
    private static func decodeBody<T: Decodable>(_ type: T.Type, from request: Request) async -> T? {
        guard let buffer = try? await request.body.collect(upTo: maxBodySize) else { return nil }
        return try? JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
    }
}
