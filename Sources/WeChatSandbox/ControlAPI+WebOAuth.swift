import Hummingbird

/// Control endpoints that play the user's part in web authorisation: codes as the authorize page would
/// hand them to the callback, and the test users the page offers.
extension ControlAPI {
    static func registerWebOAuth(on router: Router<SandboxRequestContext>, state: SandboxState) {
        router.post("/sandbox/web-codes") { request, _ in
            try await mintWebCode(request, state: state)
        }
        router.get("/sandbox/users") { _, _ in
            try Reply.json(UserList(users: await state.testUsers.map(TestUser.init(user:))))
        }
        router.post("/sandbox/users") { request, _ in
            try await addUser(request, state: state)
        }
    }

    struct MintWebCodeRequest: Decodable {
        var appid: String
        var user: String?
        var scope: String?
        var snapshot: Bool?
    }

    struct MintedWebCode: Encodable {
        var code: String
        var appid: String
        var user: String
        var openid: String
        var unionid: String?
        var scope: String
        var snapshot: Bool
    }

    /// Mints a code as if `user` approved the authorize page of an official account or website app.
    static func mintWebCode(_ request: Request, state: SandboxState) async throws -> Response {
        let mint: MintWebCodeRequest
        switch await decode(MintWebCodeRequest.self, from: request) {
        case .success(let decoded): mint = decoded
        case .failure(let refusal): return try refusal.response()
        }
        if let user = mint.user, user.isEmpty {
            return try Reply.controlError("user must not be empty")
        }
        guard let app = await state.app(mint.appid) else {
            return try Reply.controlError("unknown appid \(mint.appid); register it with POST /sandbox/apps")
        }
        guard let scope = mint.scope ?? WebAuthorization.defaultScope(for: app.kind) else {
            return try Reply.controlError("\(app.appid) is a mini-program; mint its codes with POST /sandbox/codes")
        }
        let user = mint.user ?? TestUsers.randomUserName()
        guard
            let issued = await state.mintWebCode(
                appid: app.appid,
                user: user,
                scope: scope,
                snapshot: mint.snapshot ?? false
            )
        else {
            let allowed = WebAuthorization.scopes(for: app.kind).joined(separator: " or ")
            return try Reply.controlError("scope \(scope) is not for a \(app.kind.rawValue) app; use \(allowed)")
        }
        return try Reply.json(
            MintedWebCode(
                code: issued.code,
                appid: issued.appid,
                user: issued.user,
                openid: issued.openid,
                unionid: issued.unionid,
                scope: scope,
                snapshot: issued.snapshot
            ),
            status: .created
        )
    }

    struct UserList: Encodable {
        var users: [TestUser]
    }

    struct TestUser: Encodable {
        var user: String
        var unionid: String?

        init(user: String) {
            self.user = user
            self.unionid = TestUsers.unionid(user: user)
        }
    }

    struct AddUserRequest: Decodable {
        var user: String
    }

    /// Adds a test user, so the authorize page offers it.
    static func addUser(_ request: Request, state: SandboxState) async throws -> Response {
        let add: AddUserRequest
        switch await decode(AddUserRequest.self, from: request) {
        case .success(let decoded): add = decoded
        case .failure(let refusal): return try refusal.response()
        }
        guard !add.user.isEmpty, add.user.count <= AuthorizePages.maxNicknameLength else {
            return try Reply.controlError("user must be 1 to \(AuthorizePages.maxNicknameLength) characters")
        }
        await state.addTestUser(add.user)
        return try Reply.json(TestUser(user: add.user), status: .created)
    }
}
