/// A secret value (AppSecret, session_key, tokens) that never shows itself in logs, errors or dumps.
///
/// `description`, `debugDescription` and reflection all print `<redacted>`; the value is only reachable
/// through ``revealed``, which makes every use of it greppable.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    private let value: String

    public init(_ value: String) {
        self.value = value
    }

    /// The secret itself. Use only to send it where it belongs.
    public var revealed: String { value }

    public var isEmpty: Bool { value.isEmpty }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }

    /// Constant-time equality, so comparing a presented secret leaks nothing through timing.
    public static func == (lhs: Secret, rhs: Secret) -> Bool {
        ConstantTime.equals(Array(lhs.value.utf8), Array(rhs.value.utf8))
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(value.utf8.count)
    }
}

/// Comparisons whose duration does not depend on where the inputs differ.
public enum ConstantTime {
    public static func equals(_ lhs: some Collection<UInt8>, _ rhs: some Collection<UInt8>) -> Bool {
        var difference = UInt8(truncatingIfNeeded: lhs.count ^ rhs.count) | (lhs.count == rhs.count ? 0 : 1)
        // Walk the presented length either way so the loop count does not reveal the stored one.
        let left = Array(lhs)
        let right = Array(rhs)
        for index in 0..<left.count {
            let other = index < right.count ? right[index] : 0
            difference |= left[index] ^ other
        }
        return difference == 0
    }
}
