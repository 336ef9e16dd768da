import Crypto
import Foundation
import TestSupport
import Testing

/// CONTRACT §4 `admin` and §9, driven with signatures computed here from the contract's text.
@Suite struct AdminTests {
    static let keyId = "ops-2026"
    static let keyBytes = Array("e2e-admin-key-do-not-leak-0123456789abcdef".utf8)
    static var keySet: String {
        let k = Data(keyBytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        return #"{"keys":[{"kty":"oct","kid":"\#(keyId)","k":"\#(k)"}]}"#
    }

    /// The four headers of §9 for this request.
    static func signed(
        _ method: String,
        _ path: String,
        body: String,
        keyId: String = keyId,
        key: [UInt8] = keyBytes,
        timestamp: Int64 = Int64(Date().timeIntervalSince1970),
        nonce: String = randomNonce()
    ) -> [String: String] {
        let bodyHash = SHA256.hash(data: Array(body.utf8)).map { String(format: "%02x", $0) }.joined()
        let message = "\(method)\n\(path)\n\(timestamp)\n\(nonce)\n\(bodyHash)"
        let mac = HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: SymmetricKey(data: key))
        return [
            "x-wxauth-key-id": keyId, "x-wxauth-timestamp": String(timestamp), "x-wxauth-nonce": nonce,
            "x-wxauth-signature": mac.map { String(format: "%02x", $0) }.joined(),
        ]
    }

    static func randomNonce() -> String {
        String(
            (0..<24).map { _ in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-".randomElement()! }
        )
    }

    let environment = ["WXAUTH_ADMIN_KEYS": AdminTests.keySet]

    /// `POST path` to the `admin` function with `headers` (by default: the request's own valid signature).
    func admin(
        _ e2e: EndToEnd,
        _ path: String,
        _ body: String,
        headers: [String: String]? = nil,
        environment: [String: String]? = nil
    ) async throws -> Invocation {
        try await e2e.invoke(
            "admin",
            method: "POST",
            path: path,
            body: body,
            headers: headers ?? Self.signed("POST", path, body: body),
            extraEnvironment: environment ?? self.environment
        )
    }

    @Test func introspectsAndRevokesWithValidSignaturesOnly() async throws {
        try await withEndToEnd { e2e in
            let signIn = try await e2e.signIn()
            let (access, refresh, userId) = (signIn.access_token, signIn.refresh_token, signIn.user.id)

            let introspectAccess = #"{"token":"\#(access)"}"#
            let active = try await admin(e2e, "/admin/introspect", introspectAccess)
            #expect(active.status == 200)
            #expect(active.headers["cache-control"] == "no-store")
            // `exp` and `iat` decode as integers, or `decoded` throws.
            let introspection = try active.decoded(Introspection.self)
            #expect(introspection.active)
            #expect(introspection.sub == userId)
            #expect(introspection.client_id == EndToEnd.appid)
            #expect(introspection.token_type == "access_token")
            #expect(introspection.sid != nil && introspection.exp != nil && introspection.iat != nil)

            let introspectRefresh = #"{"token":"\#(refresh)"}"#
            let refreshActive = try await admin(e2e, "/admin/introspect", introspectRefresh)
            let refreshIntrospection = try refreshActive.decoded(Introspection.self)
            #expect(refreshIntrospection.active)
            #expect(refreshIntrospection.token_type == "refresh_token")
            #expect(refreshIntrospection.sid == introspection.sid)

            let junk = #"{"token":"not-a-token"}"#
            let inactive = try await admin(e2e, "/admin/introspect", junk)
            #expect(inactive.status == 200)
            #expect(try inactive.members == ["active": .bool(false)])

            // Refused, and nothing done: a replayed nonce, a stale timestamp, an unknown key, a wrong key, a body
            // other than the one signed, a path other than the one signed, no signature, no keys configured.
            let headers = Self.signed("POST", "/admin/introspect", body: introspectAccess)
            #expect(try await admin(e2e, "/admin/introspect", introspectAccess, headers: headers).status == 200)
            let now = Int64(Date().timeIntervalSince1970)
            let refusals: [(String, String, [String: String], [String: String])] = [
                ("replay", introspectAccess, headers, environment),
                (
                    "stale", introspectAccess,
                    Self.signed("POST", "/admin/introspect", body: introspectAccess, timestamp: now - 3600), environment
                ),
                (
                    "future", introspectAccess,
                    Self.signed("POST", "/admin/introspect", body: introspectAccess, timestamp: now + 3600), environment
                ),
                (
                    "unknown key", introspectAccess,
                    Self.signed("POST", "/admin/introspect", body: introspectAccess, keyId: "other"), environment
                ),
                (
                    "wrong key", introspectAccess,
                    Self.signed(
                        "POST",
                        "/admin/introspect",
                        body: introspectAccess,
                        key: Array(repeating: 7, count: 32)
                    ),
                    environment
                ),
                (
                    "other body", introspectRefresh, Self.signed("POST", "/admin/introspect", body: introspectAccess),
                    environment
                ),
                (
                    "other path", introspectAccess, Self.signed("POST", "/admin/revoke", body: introspectAccess),
                    environment
                ),
                (
                    "short nonce", introspectAccess,
                    Self.signed("POST", "/admin/introspect", body: introspectAccess, nonce: "short"), environment
                ),
                ("unsigned", introspectAccess, [:], environment),
                ("no keys", introspectAccess, Self.signed("POST", "/admin/introspect", body: introspectAccess), [:]),
            ]
            for (name, body, headers, environment) in refusals {
                let refused = try await admin(
                    e2e,
                    "/admin/introspect",
                    body,
                    headers: headers,
                    environment: environment
                )
                #expect(refused.status == 401, "\(name)")
                #expect(try refused.refusal.error == "invalid_client", "\(name)")
                #expect(try refused.members["active"] == nil, "\(name)")
                assertNoSecrets(
                    [String(decoding: Self.keyBytes, as: UTF8.self), refresh, EndToEnd.jwtSecret],
                    in: refused.stdout,
                    refused.stderr
                )
            }

            // Revoking the user: every session, effective in userinfo, refresh and introspection.
            let revokeBody = #"{"sub":"\#(userId)"}"#
            let revoked = try await admin(e2e, "/admin/revoke", revokeBody)
            #expect(revoked.status == 200)
            #expect(try revoked.decoded(Revocation.self).revoked_sessions == 1)
            let userinfo = try await e2e.userinfo(access)
            #expect(userinfo.status == 401)
            let refreshed = try await e2e.refresh(refresh)
            #expect(refreshed.status == 400)
            #expect(try refreshed.refusal.error == "invalid_grant")
            let after = try await admin(e2e, "/admin/introspect", introspectAccess)
            #expect(try after.decoded(Introspection.self).active == false)
        }
    }

    @Test func revokesByWeChatIdentity() async throws {
        try await withEndToEnd { e2e in
            var accessTokens: [String] = []
            for _ in 0..<2 {
                accessTokens.append(try await e2e.signIn(user: "bob").access_token)
            }
            let info = try await e2e.userinfo(accessTokens[0])
            let openid = try info.profile.openid
            let body = #"{"openid":"\#(openid)","appid":"\#(EndToEnd.appid)"}"#
            let revoked = try await admin(e2e, "/admin/revoke", body)
            #expect(try revoked.decoded(Revocation.self).revoked_sessions == 2)
            for token in accessTokens {
                let refused = try await e2e.userinfo(token)
                #expect(refused.status == 401)
            }
            let nobody = #"{"openid":"nobody","appid":"\#(EndToEnd.appid)"}"#
            let none = try await admin(e2e, "/admin/revoke", nobody)
            #expect(try none.decoded(Revocation.self).revoked_sessions == 0)
        }
    }
}

extension AdminTests {
    @Test func localRunnerSignPrintsHeadersTheAdminFunctionAccepts() async throws {
        try await withEndToEnd { e2e in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "wxauth-sign-\(UUID().uuidString)"
            )
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let keys = directory.appendingPathComponent("keys.json")
            let body = directory.appendingPathComponent("body.json")
            try Data(Self.keySet.utf8).write(to: keys)
            let text = #"{"token":"whatever"}"#
            try Data(text.utf8).write(to: body)
            let sign = try await e2e.invoke(
                "local-runner",
                arguments: ["sign", "POST", "/admin/introspect", "--body", body.path, "--keys", keys.path]
            )
            #expect(sign.exitStatus == 0)
            var headers: [String: String] = [:]
            for line in sign.stdout.split(separator: "\n") {
                let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if parts.count == 2 { headers[parts[0].lowercased()] = parts[1] }
            }
            #expect(
                Set(headers.keys) == ["x-wxauth-key-id", "x-wxauth-timestamp", "x-wxauth-nonce", "x-wxauth-signature"]
            )
            let answer = try await admin(e2e, "/admin/introspect", text, headers: headers)
            #expect(answer.status == 200)
            #expect(try answer.decoded(Introspection.self).active == false)
        }
    }
}
