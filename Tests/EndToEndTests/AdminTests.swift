import Crypto
import Foundation
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

    func admin(_ e2e: EndToEnd, _ path: String, _ body: String, headers: [String: String]) async throws -> Invocation {
        try await e2e.invoke(
            "admin",
            method: "POST",
            path: path,
            body: body,
            headers: headers,
            extraEnvironment: environment
        )
    }

    @Test func introspectsAndRevokesWithValidSignaturesOnly() async throws {
        try await withEndToEnd { e2e in
            let code = try await e2e.mintCode()
            let signIn = try await e2e.invoke("login", method: "POST", path: "/login", body: #"{"code":"\#(code)"}"#)
            let access = try #require(signIn.body["access_token"] as? String)
            let refresh = try #require(signIn.body["refresh_token"] as? String)
            let userId = try #require((signIn.body["user"] as? [String: Any])?["id"] as? String)

            let introspectAccess = #"{"token":"\#(access)"}"#
            let active = try await admin(
                e2e,
                "/admin/introspect",
                introspectAccess,
                headers: Self.signed("POST", "/admin/introspect", body: introspectAccess)
            )
            #expect(active.status == 200)
            #expect(active.headers["cache-control"] == "no-store")
            #expect(active.body["active"] as? Bool == true)
            #expect(active.body["sub"] as? String == userId)
            #expect(active.body["client_id"] as? String == EndToEnd.appid)
            #expect(active.body["token_type"] as? String == "access_token")
            #expect(active.body["sid"] is String && active.body["exp"] is Int && active.body["iat"] is Int)

            let introspectRefresh = #"{"token":"\#(refresh)"}"#
            let refreshActive = try await admin(
                e2e,
                "/admin/introspect",
                introspectRefresh,
                headers: Self.signed("POST", "/admin/introspect", body: introspectRefresh)
            )
            #expect(refreshActive.body["active"] as? Bool == true)
            #expect(refreshActive.body["token_type"] as? String == "refresh_token")
            #expect(refreshActive.body["sid"] as? String == active.body["sid"] as? String)

            let junk = #"{"token":"not-a-token"}"#
            let inactive = try await admin(
                e2e,
                "/admin/introspect",
                junk,
                headers: Self.signed("POST", "/admin/introspect", body: junk)
            )
            #expect(inactive.status == 200)
            #expect(inactive.body.count == 1 && inactive.body["active"] as? Bool == false)

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
                let refused = try await e2e.invoke(
                    "admin",
                    method: "POST",
                    path: "/admin/introspect",
                    body: body,
                    headers: headers,
                    extraEnvironment: environment
                )
                #expect(refused.status == 401, "\(name)")
                #expect(refused.body["error"] as? String == "invalid_client", "\(name)")
                #expect(refused.body["active"] == nil, "\(name)")
                for secret in [String(decoding: Self.keyBytes, as: UTF8.self), refresh, EndToEnd.jwtSecret] {
                    #expect(
                        !refused.stdout.contains(secret) && !refused.stderr.contains(secret),
                        "\(name) printed a secret"
                    )
                }
            }

            // Revoking the user: every session, effective in userinfo, refresh and introspection.
            let revokeBody = #"{"sub":"\#(userId)"}"#
            let revoked = try await admin(
                e2e,
                "/admin/revoke",
                revokeBody,
                headers: Self.signed("POST", "/admin/revoke", body: revokeBody)
            )
            #expect(revoked.status == 200)
            #expect(revoked.body["revoked_sessions"] as? Int == 1)
            let userinfo = try await e2e.invoke(
                "userinfo",
                method: "GET",
                path: "/userinfo",
                headers: ["authorization": "Bearer \(access)"]
            )
            #expect(userinfo.status == 401)
            let refreshed = try await e2e.invoke(
                "refresh",
                method: "POST",
                path: "/refresh",
                body: #"{"refresh_token":"\#(refresh)"}"#
            )
            #expect(refreshed.status == 400)
            #expect(refreshed.body["error"] as? String == "invalid_grant")
            let after = try await admin(
                e2e,
                "/admin/introspect",
                introspectAccess,
                headers: Self.signed("POST", "/admin/introspect", body: introspectAccess)
            )
            #expect(after.body["active"] as? Bool == false)
        }
    }

    @Test func revokesByWeChatIdentity() async throws {
        try await withEndToEnd { e2e in
            var accessTokens: [String] = []
            for _ in 0..<2 {
                let code = try await e2e.mintCode(user: "bob")
                let signIn = try await e2e.invoke(
                    "login",
                    method: "POST",
                    path: "/login",
                    body: #"{"code":"\#(code)"}"#
                )
                accessTokens.append(try #require(signIn.body["access_token"] as? String))
            }
            let info = try await e2e.invoke(
                "userinfo",
                method: "GET",
                path: "/userinfo",
                headers: ["authorization": "Bearer \(accessTokens[0])"]
            )
            let openid = try #require(info.body["openid"] as? String)
            let body = #"{"openid":"\#(openid)","appid":"\#(EndToEnd.appid)"}"#
            let revoked = try await admin(
                e2e,
                "/admin/revoke",
                body,
                headers: Self.signed("POST", "/admin/revoke", body: body)
            )
            #expect(revoked.body["revoked_sessions"] as? Int == 2)
            for token in accessTokens {
                let refused = try await e2e.invoke(
                    "userinfo",
                    method: "GET",
                    path: "/userinfo",
                    headers: ["authorization": "Bearer \(token)"]
                )
                #expect(refused.status == 401)
            }
            let nobody = #"{"openid":"nobody","appid":"\#(EndToEnd.appid)"}"#
            let none = try await admin(
                e2e,
                "/admin/revoke",
                nobody,
                headers: Self.signed("POST", "/admin/revoke", body: nobody)
            )
            #expect(none.body["revoked_sessions"] as? Int == 0)
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
            #expect(answer.body["active"] as? Bool == false)
        }
    }
}
