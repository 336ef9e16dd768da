/// The sandbox app `sandbox` and `demo` use when none is given, with secrets made fresh for each run.
enum DevelopmentApp {
    /// The app id; it only exists in the sandbox.
    static let appID = "wxsandboxapp0001"

    /// `byteCount` random bytes as lower-case hex, from the system's secure generator.
    static func randomHex(byteCount: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<byteCount).map { _ in
            let byte = UInt8.random(in: .min ... .max, using: &generator)
            return String(byte >> 4, radix: 16) + String(byte & 0x0f, radix: 16)
        }.joined()
    }

    /// A fresh AppSecret, 32 hex characters like WeChat's.
    static func makeSecret() -> String { randomHex(byteCount: 16) }

    /// A fresh JWT signing key: 32 random bytes, written as 64 hex characters.
    static func makeJWTSecret() -> String { randomHex(byteCount: 32) }
}
