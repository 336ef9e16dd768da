import Synchronization

/// Turns a function's stderr chunks into whole lines, each passed on with the function's name in front.
final class LineRelay: Sendable {
    private let prefix: String
    private let log: @Sendable (String) -> Void
    private let pending = Mutex<[UInt8]>([])

    init(prefix: String, log: @escaping @Sendable (String) -> Void) {
        self.prefix = prefix
        self.log = log
    }

    func feed(_ chunk: [UInt8]) {
        let lines: [String] = pending.withLock { buffer in
            buffer += chunk
            var lines: [String] = []
            while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                lines.append(String(decoding: buffer[..<newline], as: UTF8.self))
                buffer.removeSubrange(...newline)
            }
            return lines
        }
        for line in lines { log(prefix + line) }
    }

    func finish() {
        let rest = pending.withLock { buffer in
            defer { buffer.removeAll() }
            return buffer
        }
        if !rest.isEmpty { log(prefix + String(decoding: rest, as: UTF8.self)) }
    }
}
