import Foundation
import Hummingbird
import Logging
import NIOCore

/// The sandbox's own API under `/sandbox/`: register apps, mint codes as `wx.login` would,
/// inject faults, and read what the WeChat endpoints saw.
enum ControlAPI {
    /// Control bodies are small; anything bigger is a mistake.
    static let maxBodySize = 64 * 1024

    static func register(on router: Router<SandboxRequestContext>, state: SandboxState) {
        router.get("/sandbox/health") { _, _ in
            try Reply.json(["ok": true])
        }
        router.post("/sandbox/apps") { request, _ in
            try await registerApp(request, state: state)
        }
        router.post("/sandbox/codes") { request, context in
            try await mintCode(request, context: context, state: state)
        }
        router.get("/sandbox/sessions") { request, _ in
            try await sessionKey(request, state: state)
        }
        registerUserData(on: router, state: state)
        registerWebOAuth(on: router, state: state)
        router.post("/sandbox/faults") { request, _ in
            try await addFault(request, state: state)
        }
        router.delete("/sandbox/faults") { _, _ in
            await state.clearFaults()
            return Reply.noContent()
        }
        router.get("/sandbox/calls") { _, _ in
            try await callCounts(state: state)
        }
        router.delete("/sandbox/calls") { _, _ in
            await state.resetCallCounts()
            return Reply.noContent()
        }
    }

    // MARK: Handlers

    static func registerApp(_ request: Request, state: SandboxState) async throws -> Response {
        let app: SandboxApp
        switch await decode(SandboxApp.self, from: request) {
        case .success(let decoded): app = decoded
        case .failure(let refusal): return try refusal.response()
        }
        guard !app.appid.isEmpty, !app.secret.isEmpty else {
            return try Reply.controlError("appid and secret must not be empty")
        }
        await state.register(app)
        return try Reply.json(["appid": app.appid], status: .created)
    }

    struct MintCodeRequest: Decodable {
        var appid: String
        var user: String?
        var unionid: Bool?
    }

    struct MintedCode: Encodable {
        var code: String
        var appid: String
        var user: String
        var openid: String
        var unionid: String?
    }

    static func mintCode(
        _ request: Request,
        context: SandboxRequestContext,
        state: SandboxState
    ) async throws -> Response {
        let mint: MintCodeRequest
        switch await decode(MintCodeRequest.self, from: request) {
        case .success(let decoded): mint = decoded
        case .failure(let refusal): return try refusal.response()
        }
        if let user = mint.user, user.isEmpty {
            return try Reply.controlError("user must not be empty")
        }
        let user = mint.user ?? TestUsers.randomUserName()
        guard let issued = await state.mintCode(appid: mint.appid, user: user, withUnionid: mint.unionid ?? true) else {
            if await state.app(mint.appid) != nil {
                return try Reply.controlError(
                    "\(mint.appid) is not a mini-program; mint web codes with POST /sandbox/web-codes"
                )
            }
            return try Reply.controlError("unknown appid \(mint.appid); register it with POST /sandbox/apps")
        }
        context.logger.debug(
            "Minted a sandbox code",
            metadata: ["wechat.appid": "\(issued.appid)", "sandbox.user": "\(user)"]
        )
        return try Reply.json(
            MintedCode(
                code: issued.code,
                appid: issued.appid,
                user: issued.user,
                openid: issued.openid,
                unionid: issued.unionid
            ),
            status: .created
        )
    }

    static func sessionKey(_ request: Request, state: SandboxState) async throws -> Response {
        let query = request.uri.queryParameters
        guard let appid = query.nonEmpty("appid"), let openid = query.nonEmpty("openid") else {
            return try Reply.controlError("appid and openid are required")
        }
        guard let key = await state.sessionKey(appid: appid, openid: openid) else {
            return try Reply.controlError("no session for that appid and openid", status: .notFound)
        }
        return try Reply.json(["session_key": key])
    }

    static func addFault(_ request: Request, state: SandboxState) async throws -> Response {
        let fault: SandboxFault
        switch await decode(SandboxFault.self, from: request) {
        case .success(let decoded): fault = decoded
        case .failure(let refusal): return try refusal.response()
        }
        if let failure = fault.validationFailure {
            return try Reply.controlError(failure)
        }
        await state.addFault(fault)
        return try Reply.json(fault, status: .created)
    }

    static func callCounts(state: SandboxState) async throws -> Response {
        var counts = Dictionary(uniqueKeysWithValues: WeChatEndpoint.all.map { ($0.path, 0) })
        counts.merge(await state.callCounts()) { _, counted in counted }
        return try Reply.json(counts)
    }

    // MARK: Decoding

    struct Refusal: Error {
        var message: String
        var status: HTTPResponse.Status = .badRequest

        func response() throws -> Response {
            try Reply.controlError(self.message, status: self.status)
        }
    }

    /// Decodes a JSON body, turning every way it can be wrong into a 4xx refusal.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request) async -> Result<T, Refusal> {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxBodySize)
        } catch {
            return .failure(Refusal(message: "body larger than \(maxBodySize) bytes", status: .contentTooLarge))
        }
        do {
            return .success(try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView)))
        } catch DecodingError.keyNotFound(let key, _) {
            return .failure(Refusal(message: "missing field \(key.stringValue)"))
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            return .failure(Refusal(message: "wrong type for field \(field)"))
        } catch {
            return .failure(Refusal(message: "body must be a JSON object"))
        }
    }
}
