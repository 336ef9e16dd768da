import Encodings
import Foundation

/// Identifiers of sandbox test users and the random tokens WeChat hands out.
///
/// Ids are derived, not stored, so a user named "alice" has the same openid in every run of
/// every sandbox: tests and demos can hard-code them. `Hasher` is seeded per process, hence FNV.
enum TestUsers {
    /// The user's openid in `appid`: 28 characters, starting with "o" and a per-app prefix
    /// as real openids of one app do.
    static func openid(appid: String, user: String) -> String {
        "o" + derive("openid-prefix:\(appid)", count: 5) + derive("openid:\(appid):\(user)", count: 22)
    }

    /// The user's unionid, the same in every app of the sandbox (one open-platform account).
    static func unionid(user: String) -> String {
        "o" + derive("unionid-prefix", count: 5) + derive("unionid:\(user)", count: 22)
    }

    /// The name under which a user's snapshot-page virtual account is kept: its own openid, their unionid.
    static func snapshotAccount(of user: String) -> String {
        "snapshot:" + user
    }

    /// The user's avatar URL, stable per name.
    static func avatarURL(user: String) -> String {
        "https://thirdwx.qlogo.cn/mmopen/vi_32/\(derive("avatar:\(user)", count: 40))/132"
    }

    /// A fresh user name for a code minted without one.
    static func randomUserName() -> String {
        "user-" + randomAlphanumeric(count: 12).lowercased()
    }

    /// A code in the shape `wx.login` produces: 32 characters of `[A-Za-z0-9]`.
    static func randomCode() -> String {
        randomAlphanumeric(count: 32)
    }

    /// A session_key: base64 of 16 random bytes, as WeChat's (AES-128 key for encryptedData).
    static func randomSessionKey() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString()
    }

    /// A request id like the `rid` WeChat appends to every errmsg.
    static func rid() -> String {
        var generator = SystemRandomNumberGenerator()
        let seconds = UInt32(truncatingIfNeeded: Int(Date().timeIntervalSince1970))
        let parts = [
            seconds, UInt32.random(in: .min ... .max, using: &generator),
            UInt32.random(in: .min ... .max, using: &generator),
        ]
        return parts.map { Hex.encode(fixedWidth: $0) }.joined(separator: "-")
    }

    // MARK: Derivation

    private static let idAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    private static let alphanumerics = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")

    /// `count` characters of `[A-Za-z0-9_-]` determined by `seed` alone.
    static func derive(_ seed: String, count: Int) -> String {
        var result = ""
        var block: UInt32 = 0
        while result.count < count {
            var bytes = Array(seed.utf8)
            withUnsafeBytes(of: block.littleEndian) { bytes.append(contentsOf: $0) }
            var hash = mix(fnv1a64(bytes))
            // Ten 6-bit characters per 64-bit block.
            for _ in 0..<10 where result.count < count {
                result.append(idAlphabet[Int(hash & 63)])
                hash >>= 6
            }
            block += 1
        }
        return result
    }

    private static func fnv1a64(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// SplitMix64's finaliser: FNV's low bits mix poorly, and those are the ones used first.
    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    private static func randomAlphanumeric(count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return String(
            (0..<count).map { _ in alphanumerics[Int.random(in: 0..<alphanumerics.count, using: &generator)] }
        )
    }
}
