import Foundation
import Testing

/// Profiles, phone numbers and the shared app token, through the built executables and the sandbox.
@Suite(.serialized) struct SharedUserDataEndToEndTests {
    @Test func encryptedProfileAndLaterDataAreDecryptedWithTheStoredSessionKey() async throws {
        try await withEndToEnd { e2e in
            let code = try await e2e.mintCode(user: "carol")
            let login = try await e2e.invoke("login", method: "POST", path: "/login", body: #"{"code":"\#(code)"}"#)
            let openid = try #require((login.body["user"] as? [String: Any])?["openid"] as? String)
            let access = try #require(login.body["access_token"] as? String)

            let payload = try await e2e.encryptedProfile(openid: openid)
            let data = try #require(payload["encryptedData"] as? String)
            let iv = try #require(payload["iv"] as? String)
            let body = String(
                decoding: try JSONSerialization.data(withJSONObject: ["encryptedData": data, "iv": iv]),
                as: UTF8.self
            )
            let decrypted = try await e2e.invoke(
                "userinfo",
                method: "POST",
                path: "/userinfo",
                body: body,
                headers: ["authorization": "Bearer \(access)"]
            )
            #expect(decrypted.status == 200)
            #expect((decrypted.body["watermark"] as? [String: Any])?["appid"] as? String == EndToEnd.appid)

            // A second sign-in replaces the session_key; the old payload then fails to decrypt, clearly.
            let again = try await e2e.invoke(
                "login",
                method: "POST",
                path: "/login",
                body: #"{"code":"\#(try await e2e.mintCode(user: "carol"))"}"#
            )
            let newAccess = try #require(again.body["access_token"] as? String)
            let stale = try await e2e.invoke(
                "userinfo",
                method: "POST",
                path: "/userinfo",
                body: body,
                headers: ["authorization": "Bearer \(newAccess)"]
            )
            #expect(stale.status == 400)
            #expect(stale.body["error"] as? String == "invalid_request")
        }
    }

    @Test func concurrentSignInsWithPhoneCodesMakeOneStableTokenCall() async throws {
        try await withEndToEnd { e2e in
            var inputs: [(String, String)] = []
            for index in 0..<6 {
                inputs.append(
                    (try await e2e.mintCode(user: "p\(index)"), try await e2e.mintPhoneCode(user: "p\(index)"))
                )
            }
            let runs = try await withThrowingTaskGroup(of: Invocation.self) { group in
                for (code, phoneCode) in inputs {
                    group.addTask {
                        try await e2e.invoke(
                            "login",
                            method: "POST",
                            path: "/login",
                            body: #"{"code":"\#(code)","phoneCode":"\#(phoneCode)"}"#
                        )
                    }
                }
                return try await group.reduce(into: [Invocation]()) { $0.append($1) }
            }
            for run in runs {
                #expect(run.status == 200, "\(run.stdout)")
                let access = try #require(run.body["access_token"] as? String)
                let info = try await e2e.invoke(
                    "userinfo",
                    method: "GET",
                    path: "/userinfo",
                    headers: ["authorization": "Bearer \(access)"]
                )
                #expect(info.body["phone_number"] as? String == "13800138000")
                #expect(info.body["phone_number_verified"] as? Bool == true)
            }
            #expect(try await e2e.upstreamCalls("/cgi-bin/stable_token") == 1)
        }
    }

    /// The phone lookup carries the signed-in user's openid, so a phone code issued to someone else is refused
    /// (WeChat's 40003) and stays usable by its own user.
    @Test func anotherUsersPhoneCodeIsRefused() async throws {
        try await withEndToEnd { e2e in
            let victimsPhoneCode = try await e2e.mintPhoneCode(user: "victim")
            let attacker = try await e2e.invoke(
                "login",
                method: "POST",
                path: "/login",
                body: #"{"code":"\#(try await e2e.mintCode(user: "mallory"))","phoneCode":"\#(victimsPhoneCode)"}"#
            )
            #expect(attacker.status == 400, "\(attacker.stdout)")
            #expect(attacker.body["error"] as? String == "invalid_grant")
            #expect(attacker.body["wechat_errcode"] as? Int == 40003)
            #expect(attacker.body["access_token"] == nil)

            let victim = try await e2e.invoke(
                "login",
                method: "POST",
                path: "/login",
                body: #"{"code":"\#(try await e2e.mintCode(user: "victim"))","phoneCode":"\#(victimsPhoneCode)"}"#
            )
            #expect(victim.status == 200, "\(victim.stdout)")
            let access = try #require(victim.body["access_token"] as? String)
            let info = try await e2e.invoke(
                "userinfo",
                method: "GET",
                path: "/userinfo",
                headers: ["authorization": "Bearer \(access)"]
            )
            #expect(info.body["phone_number"] as? String == "13800138000")
        }
    }
}
