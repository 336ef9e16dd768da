import Foundation
import TestSupport
import Testing

/// Profiles, phone numbers and the shared app token, through the built executables and the sandbox.
@Suite(.serialized) struct SharedUserDataEndToEndTests {
    @Test func encryptedProfileAndLaterDataAreDecryptedWithTheStoredSessionKey() async throws {
        try await withEndToEnd { e2e in
            let tokens = try await e2e.signIn(user: "carol")
            let payload = try await e2e.encryptedProfile(openid: tokens.user.openid)
            let decrypted = try await e2e.decrypt(payload, access: tokens.access_token)
            #expect(decrypted.status == 200)
            #expect(try decrypted.decoded(DecryptedData.self).watermark.appid == EndToEnd.appid)

            // A second sign-in replaces the session_key; the old payload then fails to decrypt, clearly.
            let newAccess = try await e2e.signIn(user: "carol").access_token
            let stale = try await e2e.decrypt(payload, access: newAccess)
            #expect(stale.status == 400)
            #expect(try stale.refusal.error == "invalid_request")
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
                    group.addTask { try await e2e.login(code: code, phoneCode: phoneCode) }
                }
                return try await group.reduce(into: [Invocation]()) { $0.append($1) }
            }
            for run in runs {
                #expect(run.status == 200, "\(run.stdout)")
                let profile = try await e2e.userinfo(run.tokens.access_token).profile
                #expect(profile.phone_number == "13800138000")
                #expect(profile.phone_number_verified == true)
            }
            #expect(try await e2e.upstreamCalls("/cgi-bin/stable_token") == 1)
        }
    }

    /// The phone lookup carries the signed-in user's openid, so a phone code issued to someone else is refused
    /// (WeChat's 40003) and stays usable by its own user.
    @Test func anotherUsersPhoneCodeIsRefused() async throws {
        try await withEndToEnd { e2e in
            let victimsPhoneCode = try await e2e.mintPhoneCode(user: "victim")
            let attacker = try await e2e.login(user: "mallory", phoneCode: victimsPhoneCode)
            #expect(attacker.status == 400, "\(attacker.stdout)")
            #expect(try attacker.refusal.error == "invalid_grant")
            #expect(try attacker.refusal.wechat_errcode == 40003)
            #expect(try attacker.members["access_token"] == nil)

            let victim = try await e2e.login(user: "victim", phoneCode: victimsPhoneCode)
            #expect(victim.status == 200, "\(victim.stdout)")
            let info = try await e2e.userinfo(victim.tokens.access_token)
            #expect(try info.profile.phone_number == "13800138000")
        }
    }
}
