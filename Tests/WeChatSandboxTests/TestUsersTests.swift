import Foundation
import Testing

@testable import WeChatSandbox

@Suite("test users")
struct TestUsersTests {
    static let idCharacters = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

    @Test("openids are 28 characters, per app, with a shared per-app prefix")
    func openidShape() {
        let alice = TestUsers.openid(appid: "wx1", user: "alice")
        let bob = TestUsers.openid(appid: "wx1", user: "bob")
        let aliceElsewhere = TestUsers.openid(appid: "wx2", user: "alice")
        #expect(alice.count == 28 && alice.hasPrefix("o"))
        #expect(alice.allSatisfy { Self.idCharacters.contains($0) })
        #expect(alice != bob && alice != aliceElsewhere)
        #expect(alice.prefix(6) == bob.prefix(6))
        #expect(alice == TestUsers.openid(appid: "wx1", user: "alice"))
    }

    @Test("unionids are 28 characters and depend on the user only")
    func unionidShape() {
        let alice = TestUsers.unionid(user: "alice")
        #expect(alice.count == 28 && alice.hasPrefix("o"))
        #expect(alice.allSatisfy { Self.idCharacters.contains($0) })
        #expect(alice != TestUsers.unionid(user: "bob"))
    }

    @Test("derivation is pinned: ids must not change between versions")
    func pinned() {
        #expect(TestUsers.openid(appid: "wx4f4bc4dec97d474b", user: "alice") == "oitq7hOlGzi2EG9zhF5LC_PTAbZM")
        #expect(TestUsers.unionid(user: "alice") == "oHnADv92vXk1qxyU7deJetUpqgTJ")
    }

    @Test("session keys are 16 random bytes in base64")
    func sessionKey() {
        let key = TestUsers.randomSessionKey()
        #expect(Data(base64Encoded: key)?.count == 16)
        #expect(key != TestUsers.randomSessionKey())
    }

    @Test("rids look like WeChat's")
    func rid() {
        let parts = TestUsers.rid().split(separator: "-")
        #expect(parts.count == 3)
        #expect(parts.allSatisfy { $0.count == 8 && $0.allSatisfy(\.isHexDigit) })
    }
}
