import Foundation
import Testing
import WeChatSandbox

/// Secrets at rest sealed under one `WXAUTH_DATA_KEYS` set still open after a rotation, through the built functions.
@Suite(.serialized) struct DataKeyRotationTests {
    static let wechatBrowser =
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0.47 NetType/WIFI"

    /// A web sign-in in WeChat's browser with the official account: the callback's JSON answer.
    func webSignIn(
        _ e2e: EndToEnd,
        user: String,
        scope: String,
        environment: [String: String]
    ) async throws -> Invocation {
        let started = try await e2e.invoke(
            "login",
            method: "GET",
            path: "/login?return_to=%2F" + (scope == "snsapi_base" ? "&scope=base" : ""),
            headers: ["user-agent": Self.wechatBrowser],
            extraEnvironment: environment
        )
        let location = try #require(started.headers["location"], "\(started.stdout)")
        let state = try #require(URLComponents(string: location)?.queryItems?.first { $0.name == "state" }?.value)
        let answer = try await e2e.control(
            "POST",
            "/sandbox/web-codes",
            #"{"appid":"\#(EndToEnd.officialAccount)","user":"\#(user)","scope":"\#(scope)"}"#
        )
        let code = try #require(answer["code"] as? String)
        return try await e2e.invoke(
            "callback",
            method: "GET",
            path: "/callback?code=\(code)&state=\(state)",
            headers: ["accept": "application/json", "user-agent": Self.wechatBrowser],
            extraEnvironment: environment
        )
    }

    func decryptProfile(
        _ e2e: EndToEnd,
        openid: String,
        access: String,
        environment: [String: String]
    ) async throws -> Invocation {
        let payload = try await e2e.encryptedProfile(openid: openid)
        let body = String(
            decoding: try JSONSerialization.data(withJSONObject: [
                "encryptedData": payload["encryptedData"] ?? "", "iv": payload["iv"] ?? "",
            ]),
            as: UTF8.self
        )
        return try await e2e.invoke(
            "userinfo",
            method: "POST",
            path: "/userinfo",
            body: body,
            headers: ["authorization": "Bearer \(access)"],
            extraEnvironment: environment
        )
    }

    @Test func theSessionKeyTheAppTokenAndWebTokensOpenAfterARotation() async throws {
        let clock = ManualSandboxClock(start: Date())
        try await withEndToEnd(sandboxClock: clock) { e2e in
            let files = try KeyFiles(e2e)
            defer { files.remove() }
            let file = files.path("data.json")
            _ = try await files.keys(["new", "--alg", "A256GCM", "--kid", "data-1", "--output", file])
            let environment = ["WXAUTH_DATA_KEYS_FILE": file]

            // Sealed under data-1: rita's session_key, the app token (for her phone number), hank's WeChat web tokens.
            let (code, phoneCode) = (try await e2e.mintCode(user: "rita"), try await e2e.mintPhoneCode(user: "rita"))
            let login = try await e2e.invoke(
                "login",
                method: "POST",
                path: "/login",
                body: #"{"code":"\#(code)","phoneCode":"\#(phoneCode)"}"#,
                extraEnvironment: environment
            )
            #expect(login.status == 200, "\(login.stdout)")
            let access = try #require(login.body["access_token"] as? String)
            let openid = try #require((login.body["user"] as? [String: Any])?["openid"] as? String)
            #expect(try await e2e.upstreamCalls("/cgi-bin/stable_token") == 1)
            #expect(
                try await webSignIn(e2e, user: "hank", scope: "snsapi_userinfo", environment: environment).status == 200
            )
            #expect(try await e2e.upstreamCalls("/sns/userinfo") == 1)

            // Rotated: data-2 seals from now on, data-1 still opens.
            _ = try await files.keys(["rotate", "--file", file])
            let rotated = try files.set("data.json")
            #expect(
                rotated.count == 2 && rotated.last?["kid"] as? String == "data-1"
                    && rotated[0]["alg"] as? String == "A256GCM"
            )
            let decrypted = try await decryptProfile(e2e, openid: openid, access: access, environment: environment)
            #expect(decrypted.status == 200, "the session_key sealed before the rotation opens: \(decrypted.stdout)")
            let (otherCode, otherPhone) = (
                try await e2e.mintCode(user: "sam"), try await e2e.mintPhoneCode(user: "sam")
            )
            let other = try await e2e.invoke(
                "login",
                method: "POST",
                path: "/login",
                body: #"{"code":"\#(otherCode)","phoneCode":"\#(otherPhone)"}"#,
                extraEnvironment: environment
            )
            #expect(other.status == 200)
            #expect(
                try await e2e.upstreamCalls("/cgi-bin/stable_token") == 1,
                "the cached app token opened: no new fetch"
            )
            // Three hours on, a silent sign-in reads the profile with the stored (sealed) grant, refreshing it.
            clock.advance(by: 3 * 3600)
            let silent = try await webSignIn(e2e, user: "hank", scope: "snsapi_base", environment: environment)
            #expect(silent.status == 200, "\(silent.stdout)")
            #expect(
                try await e2e.upstreamCalls("/sns/oauth2/refresh_token") == 1,
                "the web tokens sealed before opened"
            )

            // data-1 removed: what only it sealed no longer opens (so the kid, not luck, opened it above).
            try files.write(try files.set("data.json").filter { $0["kid"] as? String != "data-1" }, to: "data.json")
            let lost = try await decryptProfile(e2e, openid: openid, access: access, environment: environment)
            #expect(lost.status == 400 && lost.exitStatus == 0)
        }
    }

    @Test func aDeploymentMovesFromTheSecretToKeySetsWithoutLosingSealedValues() async throws {
        try await withEndToEnd { e2e in
            let files = try KeyFiles(e2e)
            defer { files.remove() }
            _ = try await files.keys(["new", "--alg", "A256GCM", "--output", files.path("data.json")])
            _ = try await files.keys(["new", "--alg", "ES256", "--output", files.path("signing.json")])

            // Signed in with WXAUTH_JWT_SECRET alone: the session_key is sealed under the key derived from it.
            let code = try await e2e.mintCode(user: "uma")
            let login = try await e2e.invoke("login", method: "POST", path: "/login", body: #"{"code":"\#(code)"}"#)
            let openid = try #require((login.body["user"] as? [String: Any])?["openid"] as? String)

            // A data key set added, the secret kept: the session_key sealed under the derived key still opens.
            let dataSet = ["WXAUTH_DATA_KEYS_FILE": files.path("data.json")]
            let access = try #require(login.body["access_token"] as? String)
            #expect(try await decryptProfile(e2e, openid: openid, access: access, environment: dataSet).status == 200)

            // Signing keys added too: new tokens carry the set's first kid and serve.
            let withSets = dataSet.merging(["WXAUTH_SIGNING_KEYS_FILE": files.path("signing.json")]) { $1 }
            let vic = try await e2e.signIn(user: "vic", environment: withSets)
            let header = try JSONSerialization.jsonObject(
                with: Data(base64Encoded: String(vic.prefix { $0 != "." }).base64Padded) ?? Data()
            )
            let signingKid = try files.set("signing.json").first?["kid"] as? String
            #expect((header as? [String: Any])?["kid"] as? String == signingKid)
            #expect(
                try await e2e.invoke(
                    "userinfo",
                    method: "GET",
                    path: "/userinfo",
                    headers: ["authorization": "Bearer \(vic)"],
                    extraEnvironment: withSets
                ).status == 200
            )

            // Without the secret, a deployment needs both sets; with both, it signs in and serves.
            let noSecret = ["WXAUTH_JWT_SECRET": ""]
            let missing = try await e2e.invoke(
                "login",
                method: "POST",
                path: "/login",
                body: #"{"code":"\#(try await e2e.mintCode(user: "wes"))"}"#,
                extraEnvironment: noSecret.merging(["WXAUTH_SIGNING_KEYS_FILE": files.path("signing.json")]) { $1 }
            )
            #expect(
                missing.status == 500
                    && (missing.body["error_description"] as? String)?.contains("WXAUTH_DATA_KEYS") == true
            )
            let keysOnly = noSecret.merging(withSets) { $1 }
            let wes = try await e2e.signIn(user: "wes", environment: keysOnly)
            #expect(
                try await e2e.invoke(
                    "userinfo",
                    method: "GET",
                    path: "/userinfo",
                    headers: ["authorization": "Bearer \(wes)"],
                    extraEnvironment: keysOnly
                ).status == 200
            )
        }
    }
}
