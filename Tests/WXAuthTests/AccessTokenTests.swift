import Crypto
import Foundation
import Testing
import WeChat
import WXAuth

@Suite struct AccessTokenTests {
    func tokens(secret: String = Fixture.jwtSecret) async -> AccessTokens {
        await AccessTokens(secret: Secret(secret), issuer: "wxauth", audience: "wxauth", ttl: 900)
    }

    static func base64url(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func signed(header: String, payload: String, secret: String = Fixture.jwtSecret, algorithm: String = "HS256") -> String {
        let input = base64url(Array(header.utf8)) + "." + base64url(Array(payload.utf8))
        let key = SymmetricKey(data: Array(secret.utf8))
        let signature: [UInt8] = algorithm == "HS512"
            ? Array(HMAC<SHA512>.authenticationCode(for: Array(input.utf8), using: key))
            : Array(HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: key))
        return input + "." + base64url(signature)
    }

    static func payload(exp: Int64 = 2_000_000_000, iat: Int64 = 1_700_000_000, iss: String = "wxauth", aud: String = "wxauth") -> String {
        #"{"iss":"\#(iss)","aud":"\#(aud)","sub":"u1","iat":\#(iat),"exp":\#(exp),"jti":"j","sid":"s1"}"#
    }

    @Test func issuesWholeSecondClaimsThatVerify() async throws {
        let tokens = await tokens()
        let token = try await tokens.issue(subject: "u1", session: "s1", jti: "j1", now: 1_700_000_000)
        let parts = token.split(separator: ".")
        #expect(parts.count == 3)
        let header = try JSONSerialization.jsonObject(with: Data(base64Encoded: String(parts[0]).padded())!) as? [String: Any]
        #expect(header?["alg"] as? String == "HS256")
        let claims = try JSONSerialization.jsonObject(with: Data(base64Encoded: String(parts[1]).padded())!) as? [String: Any]
        #expect(claims?["exp"] as? Int == 1_700_000_900)
        #expect(claims?["iat"] as? Int == 1_700_000_000)
        #expect(claims?["sid"] as? String == "s1")
        let verified = try await tokens.verify(token, now: 1_700_000_100)
        #expect(verified.sub == "u1" && verified.sid == "s1" && verified.jti == "j1")
    }

    @Test func honoursExpiryWithThirtySecondsLeeway() async throws {
        let tokens = await tokens()
        let token = try await tokens.issue(subject: "u1", session: "s1", jti: "j1", now: 1_700_000_000)
        _ = try await tokens.verify(token, now: 1_700_000_929)
        await #expect(throws: AuthError.self) { try await tokens.verify(token, now: 1_700_000_930) }
        await #expect(throws: AuthError.self) { try await tokens.verify(token, now: 1_699_999_900) }
    }

    @Test(arguments: [
        signed(header: #"{"alg":"none","typ":"JWT"}"#, payload: payload()).split(separator: ".").prefix(2).joined(separator: ".") + ".",
        signed(header: #"{"alg":"HS512","typ":"JWT"}"#, payload: payload(), algorithm: "HS512"),
        signed(header: #"{"alg":"HS256","typ":"JWT"}"#, payload: payload(), secret: "another-secret-that-is-long-enough-000"),
        signed(header: #"{"alg":"HS256","typ":"JWT"}"#, payload: payload(iss: "evil")),
        signed(header: #"{"alg":"HS256","typ":"JWT"}"#, payload: payload(aud: "other")),
        signed(header: #"{"alg":"HS256","crit":["x"]}"#, payload: payload()),
        "not.a.jwt", "a.b", "", String(repeating: "x", count: 5000),
    ])
    func refusesForgedAndForeignTokens(token: String) async throws {
        let tokens = await tokens()
        let error = await #expect(throws: AuthError.self) { try await tokens.verify(token, now: 1_700_000_100) }
        #expect(error?.code == "invalid_token")
        #expect(error?.status == 401)
    }

    @Test func acceptsATokenSignedElsewhereWithTheSameKey() async throws {
        let tokens = await tokens()
        let token = Self.signed(header: #"{"alg":"HS256","typ":"JWT"}"#, payload: Self.payload())
        #expect(try await tokens.verify(token, now: 1_700_000_100).sub == "u1")
    }
}

extension String {
    func padded() -> String {
        var text = replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        return text
    }
}
