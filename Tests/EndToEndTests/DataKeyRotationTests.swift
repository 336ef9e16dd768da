import Foundation
import TestSupport
import Testing
import WeChatSandbox

/// Secrets at rest sealed under one `WXAUTH_DATA_KEYS` set still open after a rotation, through the built functions.
@Suite(.serialized) struct DataKeyRotationTests {
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
            headers: ["user-agent": WebSignInTests.wechat],
            extraEnvironment: environment
        )
        let location = try #require(started.headers["location"], "\(started.stdout)")
        let state = try #require(URLComponents(string: location)?.queryItems?.first { $0.name == "state" }?.value)
        let code = try await e2e.mintWebCode(appid: EndToEnd.officialAccount, user: user, scope: scope)
        return try await e2e.invoke(
            "callback",
            method: "GET",
            path: "/callback?code=\(code)&state=\(state)",
            headers: ["accept": "application/json", "user-agent": WebSignInTests.wechat],
            extraEnvironment: environment
        )
    }

    /// `POST /userinfo` with the encrypted profile the sandbox makes with `openid`'s latest session_key.
    func decryptProfile(
        _ e2e: EndToEnd,
        openid: String,
        access: String,
        environment: [String: String]
    ) async throws -> Invocation {
        try await e2e.decrypt(try await e2e.encryptedProfile(openid: openid), access: access, environment: environment)
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
            let phoneCode = try await e2e.mintPhoneCode(user: "rita")
            let login = try await e2e.login(user: "rita", phoneCode: phoneCode, environment: environment)
            #expect(login.status == 200, "\(login.stdout)")
            let (access, openid) = (try login.tokens.access_token, try login.tokens.user.openid)
            #expect(try await e2e.upstreamCalls("/cgi-bin/stable_token") == 1)
            #expect(
                try await webSignIn(e2e, user: "hank", scope: "snsapi_userinfo", environment: environment).status == 200
            )
            #expect(try await e2e.upstreamCalls("/sns/userinfo") == 1)

            // Rotated: data-2 seals from now on, data-1 still opens.
            _ = try await files.keys(["rotate", "--file", file])
            let rotated = try files.set("data.json")
            #expect(
                rotated.count == 2 && rotated.last?["kid"] == "data-1"
                    && rotated[0]["alg"] == "A256GCM"
            )
            let decrypted = try await decryptProfile(e2e, openid: openid, access: access, environment: environment)
            #expect(decrypted.status == 200, "the session_key sealed before the rotation opens: \(decrypted.stdout)")
            let otherPhone = try await e2e.mintPhoneCode(user: "sam")
            let other = try await e2e.login(user: "sam", phoneCode: otherPhone, environment: environment)
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
            try files.write(try files.set("data.json").filter { $0["kid"] != "data-1" }, to: "data.json")
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
            let uma = try await e2e.signIn(user: "uma")

            // A data key set added, the secret kept: the session_key sealed under the derived key still opens.
            let dataSet = ["WXAUTH_DATA_KEYS_FILE": files.path("data.json")]
            #expect(
                try await decryptProfile(e2e, openid: uma.user.openid, access: uma.access_token, environment: dataSet)
                    .status == 200
            )

            // Signing keys added too: new tokens carry the set's first kid and serve.
            let withSets = dataSet.merging(["WXAUTH_SIGNING_KEYS_FILE": files.path("signing.json")]) { $1 }
            let vic = try await e2e.signIn(user: "vic", environment: withSets).access_token
            let signingKid = try files.set("signing.json").first?["kid"]
            #expect(try TokenHeader(of: vic).kid == signingKid)
            #expect(
                try await e2e.userinfo(vic, environment: withSets).status == 200
            )

            // Without the secret, a deployment needs both sets; with both, it signs in and serves.
            let noSecret = ["WXAUTH_JWT_SECRET": ""]
            let missing = try await e2e.login(
                user: "wes",
                environment: noSecret.merging(["WXAUTH_SIGNING_KEYS_FILE": files.path("signing.json")]) { $1 }
            )
            #expect(
                try missing.status == 500
                    && missing.refusal.error_description?.contains("WXAUTH_DATA_KEYS") == true
            )
            let keysOnly = noSecret.merging(withSets) { $1 }
            let wes = try await e2e.signIn(user: "wes", environment: keysOnly).access_token
            #expect(
                try await e2e.userinfo(wes, environment: keysOnly).status == 200
            )
        }
    }
}
