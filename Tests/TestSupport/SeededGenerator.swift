/// A seeded random generator (SplitMix64): property tests draw the same inputs on every run, so a failure
/// reproduces from its seed.
package struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    package init(seed: UInt64) { state = seed }

    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<bound` (0 for an empty range).
    package mutating func below(_ bound: Int) -> Int { bound <= 0 ? 0 : Int(next() % UInt64(bound)) }

    /// `count` random bytes.
    package mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) } }

    /// `count` characters drawn from `alphabet`.
    package mutating func string(from alphabet: [UInt8], count: Int) -> String {
        String(decoding: (0..<count).map { _ in alphabet[below(alphabet.count)] }, as: UTF8.self)
    }
}
