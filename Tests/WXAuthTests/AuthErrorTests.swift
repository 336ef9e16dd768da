import Testing

@testable import WXAuth

/// A refusal's status and code come from its kind, and a sealed callback outcome (which keeps only the two)
/// reads back as the same refusal.
struct AuthErrorTests {
    static let refusals: [AuthError] = [
        .invalidRequest("r"), .notFound("n"), .invalidGrant("g"), .invalidState("s"), .invalidToken("t"),
        .invalidClient("c"), .accessDenied("a"), .methodNotAllowed("PUT", allowed: ["GET"]),
        .unavailable("u", retryAfter: 2), .misconfigured("m"), .serverError("e"), .notImplemented("i"),
    ]

    @Test func everyKindHasADistinctStatusAndCodePair() {
        let pairs = AuthError.Kind.allCases.map { kind in
            Self.refusals.first { $0.kind == kind }.map { "\($0.status) \($0.code)" }
        }
        #expect(!pairs.contains(nil), "a kind without a factory in this list")
        #expect(Set(pairs).count == AuthError.Kind.allCases.count)
    }

    @Test(arguments: refusals)
    func aStoredRefusalReadsBackAsItself(refusal: AuthError) throws {
        let again = try #require(
            AuthError(
                status: refusal.status,
                code: refusal.code,
                description: refusal.description,
                wechatErrcode: 40029
            )
        )
        #expect(again.kind == refusal.kind)
        #expect(again.status == refusal.status && again.code == refusal.code)
        #expect(again.wechatErrcode == 40029)
    }

    @Test func aPairNoRefusalHasIsNone() {
        #expect(AuthError(status: 418, code: "invalid_request", description: "", wechatErrcode: nil) == nil)
        #expect(AuthError(status: 400, code: "teapot", description: "", wechatErrcode: nil) == nil)
    }

    @Test func theContractsStatusesAndHeaders() {
        #expect(AuthError.invalidToken("x").status == 401)
        #expect(AuthError.invalidToken("x").headers["www-authenticate"]?.hasPrefix("Bearer ") == true)
        #expect(AuthError.unavailable("x", retryAfter: 7).headers["retry-after"] == "7")
        #expect(AuthError.notFound("x").status == 404 && AuthError.notFound("x").code == "invalid_request")
        #expect(AuthError.notImplemented("x").status == 501 && AuthError.notImplemented("x").code == "server_error")
        #expect(AuthError.methodNotAllowed("PUT", allowed: ["GET", "POST"]).headers["allow"] == "GET, POST")
    }
}
