import Crypto
import Foundation
import TestSupport
import Testing

/// PyJWT (with `cryptography`) from the virtualenv `.ci/pyjwt-venv` makes: an implementation sharing no code with ours.
enum PyJWT {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Interop/verify_with_pyjwt.py")

    static let python: String? = {
        let environment = ProcessInfo.processInfo.environment
        let venv =
            environment["WXAUTH_PYJWT_VENV"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (environment["HOME"] ?? "/root") + "/.cache/wxauth-pyjwt-venv"
        let path = venv + "/bin/python"
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }()

    static let skipNote: Comment =
        "PyJWT is not installed: run .ci/pyjwt-venv (it makes the virtualenv these tests use)"

    /// Each token's verdict: its claims and header when valid, nil when PyJWT refused it.
    static func verify(
        _ tokens: [String],
        jwks: String,
        octKeys: [String: String] = [:],
        issuer: String = "wxauth",
        audience: String = "wxauth"
    ) async throws -> [Verdict?] {
        struct Request: Encodable {
            var jwks: KeySet
            var oct: [String: String]
            var issuer: String
            var audience: String
            var tokens: [String]
        }
        let request = Request(
            jwks: try decodeJSON(from: jwks),
            oct: octKeys,
            issuer: issuer,
            audience: audience,
            tokens: tokens
        )
        let run = try await runChildProcess(
            URL(fileURLWithPath: try #require(python)),
            arguments: [script.path],
            stdin: .bytes(Array(try JSONEncoder().encode(request))),
            environment: FunctionProcessTests.toolEnvironment
        )
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n")
        #expect(lines.count == tokens.count, "\(run.stdout)\(run.stderr)")
        return try lines.map { line in
            let verdict = try decodeJSON(Verdict.self, from: String(line))
            return verdict.valid ? verdict : nil
        }
    }

    /// PyJWT's verdict on one token: its header and claims when valid.
    struct Verdict: Decodable {
        var valid: Bool
        var header: TokenHeader?
        var claims: TokenClaims?
    }
}

/// Key files made by the real `local-runner keys`, handed to the real functions.
struct KeyFiles {
    let directory: URL
    let runner: String

    init(_ e2e: EndToEnd) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("wxauth-keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        runner = e2e.executable("local-runner").path
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func keys(_ arguments: [String]) async throws -> String {
        let run = try await runChildProcess(
            URL(fileURLWithPath: runner),
            arguments: ["keys"] + arguments,
            environment: FunctionProcessTests.toolEnvironment
        )
        #expect(run.status == 0, "keys \(arguments): \(run.stderr)")
        return run.stdout
    }

    /// The private JWK Set in a file, parsed.
    func set(_ name: String) throws -> [[String: String]] {
        try decodeJSON(KeySet.self, from: Array(try Data(contentsOf: URL(fileURLWithPath: path(name))))).keys
    }

    func write(_ keys: [[String: String]], to name: String) throws {
        try JSONEncoder().encode(KeySet(keys: keys)).write(to: URL(fileURLWithPath: path(name)))
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

extension EndToEnd {
    /// The JWKS the real `jwks` function serves.
    func publishedJWKS(environment: [String: String]) async throws -> Invocation {
        try await invoke("jwks", method: "GET", path: "/.well-known/jwks.json", extraEnvironment: environment)
    }
}

@Suite(.serialized) struct IndependentVerificationTests {
    @Test(.enabled(if: PyJWT.python != nil, PyJWT.skipNote), arguments: ["ES256", "EdDSA", "RS256", "HS256"])
    func pyJWTVerifiesTokensFromLoginWithTheKeysJWKSPublishes(algorithm: String) async throws {
        try await withEndToEnd { e2e in
            let files = try KeyFiles(e2e)
            defer { files.remove() }
            _ = try await files.keys([
                "new", "--alg", algorithm, "--kid", "k-\(algorithm)", "--output", files.path("signing.json"),
            ])
            let mode =
                try FileManager.default.attributesOfItem(atPath: files.path("signing.json"))[.posixPermissions] as? Int
            #expect(mode == 0o600)
            let environment = ["WXAUTH_SIGNING_KEYS_FILE": files.path("signing.json")]

            let token = try await e2e.signIn(environment: environment).access_token
            let published = try await e2e.publishedJWKS(environment: environment)
            #expect(published.status == 200 && published.headers["cache-control"] == "public, max-age=300")
            let jwks = try #require(published.bodyText)
            #expect(
                try await files.keys(["public", "--file", files.path("signing.json")]).trimmingCharacters(in: .newlines)
                    == jwks
            )
            for member in [#""d""#, #""p""#, #""q""#, #""dp""#, #""dq""#, #""qi""#, #""k""#] {
                #expect(!jwks.contains(member))
            }

            // HS256 keys are never published: a verifier holds the shared secret instead.
            let octKeys =
                algorithm == "HS256"
                ? try files.set("signing.json").reduce(into: [String: String]()) {
                    $0[$1["kid"] ?? ""] = $1["k"]
                } : [:]
            #expect(try decodeJSON(KeySet.self, from: jwks).keys.count == (algorithm == "HS256" ? 0 : 1))
            let verdict = try #require(try await PyJWT.verify([token], jwks: jwks, octKeys: octKeys).first ?? nil)
            // The claims decode with `sid`, `jti` and `sub` as strings, or `verify` throws.
            let (header, claims) = (try #require(verdict.header), try #require(verdict.claims))
            #expect(header.alg == algorithm)
            #expect(header.typ == "at+jwt" && header.kid == "k-\(algorithm)")
            #expect(claims.iss == "wxauth" && claims.aud == "wxauth")
            #expect(claims.client_id == EndToEnd.appid)

            // A foreign issuer's or audience's verifier refuses it.
            #expect(
                try await PyJWT.verify([token], jwks: jwks, octKeys: octKeys, audience: "someone-else").allSatisfy {
                    $0 == nil
                }
            )
        }
    }

    @Test(.enabled(if: PyJWT.python != nil, PyJWT.skipNote))
    func rotationEndToEnd() async throws {
        try await withEndToEnd { e2e in
            let files = try KeyFiles(e2e)
            defer { files.remove() }
            let file = files.path("signing.json")
            let environment = ["WXAUTH_SIGNING_KEYS_FILE": file]
            _ = try await files.keys(["new", "--alg", "EdDSA", "--kid", "old", "--output", file])
            let oldToken = try await e2e.signIn(environment: environment).access_token

            // Rotated: the new key signs, the old one is still listed, so its tokens keep working everywhere.
            _ = try await files.keys(["rotate", "--file", file, "--alg", "ES256", "--kid", "new"])
            #expect(try files.set("signing.json").map { $0["kid"] } == ["new", "old"])
            #expect((try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int) == 0o600)
            let rotatedJWKS = try #require(
                try await e2e.publishedJWKS(environment: environment).bodyText
            )
            let newToken = try await e2e.signIn(user: "bob", environment: environment).access_token
            let both = try await PyJWT.verify([oldToken, newToken], jwks: rotatedJWKS)
            #expect(both[0]?.header?.kid == "old")
            #expect(both[1]?.header?.kid == "new" && both[1]?.header?.alg == "ES256")
            let oldStillWorks = try await e2e.userinfo(oldToken, environment: environment)
            #expect(oldStillWorks.status == 200)

            // The old key removed: its tokens fail, here and for PyJWT; the new key's still pass.
            try files.write(try files.set("signing.json").filter { $0["kid"] == "new" }, to: "signing.json")
            let finalJWKS = try #require(
                try await e2e.publishedJWKS(environment: environment).bodyText
            )
            let after = try await PyJWT.verify([oldToken, newToken], jwks: finalJWKS)
            #expect(after[0] == nil && after[1] != nil)
            let refused = try await e2e.userinfo(oldToken, environment: environment)
            #expect(refused.status == 401 && refused.exitStatus == 0)
            let accepted = try await e2e.userinfo(newToken, environment: environment)
            #expect(accepted.status == 200)
        }
    }
}

/// Tokens signed with the right key but carrying hostile numbers, presented to the real `userinfo`: every one is a
/// 401 with exit status 0, never a crash.
@Suite struct HostileTokenTests {
    static func forged(
        header: String = #"{"alg":"HS256","typ":"at+jwt","kid":"KID"}"#,
        claims: String,
        kid: String
    ) -> String {
        func b64(_ bytes: some Sequence<UInt8>) -> String {
            Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(
                of: "/",
                with: "_"
            )
            .replacingOccurrences(of: "=", with: "")
        }
        let input = b64(Array(header.replacingOccurrences(of: "KID", with: kid).utf8)) + "." + b64(Array(claims.utf8))
        let key = SymmetricKey(data: Array(EndToEnd.jwtSecret.utf8))
        return input + "." + b64(HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: key))
    }

    @Test func hugeNegativeFractionalAndStringNumbersAreRefusedWithoutTrapping() async throws {
        try await withEndToEnd { e2e in
            let token = try await e2e.signIn().access_token
            let kid = try TokenHeader(of: token).kid
            let real = try TokenClaims(of: token)
            let (sub, sid) = (real.sub, real.sid)
            let now = Int64(Date().timeIntervalSince1970)
            func claims(exp: String = "\(now + 600)", iat: String = "\(now)", extra: String = "") -> String {
                #"{"iss":"wxauth","aud":"wxauth","sub":"\#(sub)","iat":\#(iat),"exp":\#(exp),"jti":"j","client_id":"wx","sid":"\#(sid)"\#(extra)}"#
            }
            // The same claims with sane numbers pass: so each refusal below is the number's doing.
            let control = try await e2e.invoke(
                "userinfo",
                method: "GET",
                path: "/userinfo",
                headers: ["authorization": "Bearer \(Self.forged(claims: claims(), kid: kid))"]
            )
            #expect(control.status == 200, "\(control.stdout)")
            let hostile = [
                claims(exp: String(Int64.max)), claims(iat: String(Int64.min)), claims(exp: "1e300"), claims(exp: "-1"),
                claims(exp: "\(now + 600).5"), claims(exp: #""\#(now + 600)""#),
                claims(exp: "99999999999999999999999999"),
                claims(extra: #","nbf":\#(now + 3600)"#), claims(extra: #","nbf":"0""#),
                claims(extra: #","nbf":\#(Int64.max)"#),
            ]
            for claims in hostile {
                let run = try await e2e.invoke(
                    "userinfo",
                    method: "GET",
                    path: "/userinfo",
                    headers: ["authorization": "Bearer \(Self.forged(claims: claims, kid: kid))"]
                )
                #expect(run.exitStatus == 0 && run.status == 401, "\(claims): \(run.stdout) \(run.stderr)")
                #expect(try run.refusal.error == "invalid_token")
            }
            let typ = try await e2e.invoke(
                "userinfo",
                method: "GET",
                path: "/userinfo",
                headers: [
                    "authorization":
                        "Bearer \(Self.forged(header: #"{"alg":"HS256","typ":"JWT","kid":"KID"}"#, claims: claims(), kid: kid))"
                ]
            )
            #expect(typ.status == 401)
        }
    }
}

/// The `jwks` function's two documents and its refusals, through the built executable.
@Suite struct JWKSFunctionTests {
    @Test func metadataNamesEveryEndpointUnderThePublicURL() async throws {
        try await withEndToEnd { e2e in
            let run = try await e2e.invoke(
                "jwks",
                method: "GET",
                path: "/.well-known/oauth-authorization-server",
                extraEnvironment: [
                    "WXAUTH_PUBLIC_URL": EndToEnd.publicURL + "/", "WXAUTH_ISSUER": "https://auth.example.test",
                ]
            )
            #expect(run.status == 200 && run.exitStatus == 0)
            #expect(
                run.headers["cache-control"] == "public, max-age=300"
                    && run.headers["content-type"] == "application/json"
            )
            let base = EndToEnd.publicURL
            let metadata = try run.decoded(ServerMetadata.self)
            #expect(metadata.issuer == "https://auth.example.test")
            #expect(metadata.jwks_uri == base + "/.well-known/jwks.json")
            #expect(metadata.authorization_endpoint == base + "/login")
            #expect(metadata.token_endpoint == base + "/refresh")
            #expect(metadata.userinfo_endpoint == base + "/userinfo")
            #expect(metadata.revocation_endpoint == base + "/logout")
            #expect(metadata.introspection_endpoint == base + "/admin/introspect")
            #expect(metadata.response_types_supported == ["code"])
            #expect(metadata.token_endpoint_auth_methods_supported == ["none"])
            #expect(try run.members["id_token_signing_alg_values_supported"] == nil)
        }
    }

    @Test func refusalsAreJSONAndABadKeySetNamesTheSettingOnly() async throws {
        try await withEndToEnd { e2e in
            let post = try await e2e.invoke("jwks", method: "POST", path: "/.well-known/jwks.json")
            #expect(post.status == 405 && post.headers["allow"] == "GET")
            let elsewhere = try await e2e.invoke("jwks", method: "GET", path: "/.well-known/other")
            #expect(elsewhere.status == 404)
            let noURL = try await e2e.invoke(
                "jwks",
                method: "GET",
                path: "/.well-known/oauth-authorization-server",
                extraEnvironment: ["WXAUTH_PUBLIC_URL": ""]
            )
            #expect(
                try noURL.status == 500 && noURL.refusal.error_description?.contains("WXAUTH_PUBLIC_URL") == true
            )
            let secret = "c2VjcmV0LXZhbHVlLXRoYXQtaXMtbG9uZy1lbm91Z2gtMDEyMzQ1"
            let badSet = #"{"keys":[{"kty":"oct","kid":"a","alg":"HS384","k":"\#(secret)"}]}"#
            let bad = try await e2e.invoke(
                "jwks",
                method: "GET",
                path: "/.well-known/jwks.json",
                extraEnvironment: ["WXAUTH_SIGNING_KEYS": badSet]
            )
            #expect(try bad.status == 500 && bad.refusal.error == "server_error" && bad.exitStatus == 0)
            #expect(try bad.refusal.error_description?.contains("WXAUTH_SIGNING_KEYS") == true)
            assertNoSecrets([secret], in: bad.stdout, bad.stderr)
            // Every function refuses the same way (the key set is read with the rest of the configuration).
            let userinfo = try await e2e.invoke(
                "userinfo",
                method: "GET",
                path: "/userinfo",
                headers: ["authorization": "Bearer x.y.z"],
                extraEnvironment: ["WXAUTH_SIGNING_KEYS": badSet]
            )
            #expect(userinfo.status == 500)
            assertNoSecrets([secret], in: userinfo.stdout, userinfo.stderr)
        }
    }
}
