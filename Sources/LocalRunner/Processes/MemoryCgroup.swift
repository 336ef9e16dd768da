import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A memory cgroup made for one function process: the manifest's `memory` as a hard limit, as Lambda
/// enforces it (its instances are cgroups too), with the peak and any out-of-memory kill read back.
///
/// It is made beside the runner in the runner's own memory cgroup (cgroup v2, or v1's `memory`
/// hierarchy). Where that cannot be done (no write access, a v2 parent that does not delegate the memory
/// controller, not Linux), `make` returns nil and the caller falls back to judging the peak RSS after the
/// run, so the limit is still reported and a process that exceeded it still fails.
final class MemoryCgroup: Sendable {
    /// The cgroup directory.
    let path: String
    /// `cgroup.procs`, opened before `fork`: the child writes "0" to it, joining before `execve`, so even
    /// the executable's first page is counted.
    let procsDescriptor: Int32
    private let version: Int

    private init(path: String, procsDescriptor: Int32, version: Int) {
        self.path = path
        self.procsDescriptor = procsDescriptor
        self.version = version
    }

    /// Which kind of enforcement this machine gives: for the start-up line of `serve` and `invoke`.
    static var enforcement: String {
        guard let probe = make(limitBytes: 1 << 30) else {
            return
                "memory limits are checked against each process's peak RSS after it ends (no writable memory cgroup here)"
        }
        probe.remove()
        return "memory limits are enforced by a cgroup (v\(probe.version)): a function above its limit is killed"
    }

    /// A new cgroup limited to `limitBytes` (swap included), or nil where none can be made.
    static func make(limitBytes: Int) -> MemoryCgroup? {
        guard let (parent, version) = parentDirectory() else { return nil }
        let path = parent + "/inv-\(getpid())-\(sequence.add(1, ordering: .relaxed).newValue)"
        guard mkdir(path, 0o755) == 0 else { return nil }
        let limit = String(limitBytes)
        let configured: Bool
        if version == 2 {
            configured =
                writeFile(limit, to: path + "/memory.max") && (writeFile("0", to: path + "/memory.swap.max") || true)
        } else {
            configured =
                writeFile(limit, to: path + "/memory.limit_in_bytes")
                && (writeFile(limit, to: path + "/memory.memsw.limit_in_bytes") || true)
        }
        let descriptor = open(path + "/cgroup.procs", O_WRONLY | O_CLOEXEC)
        guard configured, descriptor >= 0 else {
            if descriptor >= 0 { close(descriptor) }
            rmdir(path)
            return nil
        }
        return MemoryCgroup(path: path, procsDescriptor: descriptor, version: version)
    }

    /// The highest memory use the cgroup saw, in bytes, where the kernel tells.
    var peakBytes: Int? {
        let file = version == 2 ? "/memory.peak" : "/memory.max_usage_in_bytes"
        return Self.read(path + file).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// True when the kernel's out-of-memory killer ended a process of this cgroup.
    var outOfMemoryKills: Bool {
        let file = version == 2 ? "/memory.events" : "/memory.oom_control"
        guard let text = Self.read(path + file) else { return false }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == "oom_kill", let count = Int(parts[1]) { return count > 0 }
        }
        return false
    }

    /// Closes the descriptor and removes the directory. The processes are gone by now (their group was
    /// killed and reaped), but a killed grandchild may take a moment to leave, so removal is retried briefly.
    func remove() {
        close(procsDescriptor)
        for _ in 0..<1000 {
            if rmdir(path) == 0 || errno != EBUSY { return }
            sched_yield()
        }
    }

    // MARK: Finding where to make it

    private static let sequence = Atomic<Int>(0)

    /// The runner's own memory cgroup directory and the cgroup version, from `/proc/self/cgroup`.
    private static func parentDirectory() -> (String, Int)? {
        #if os(Linux)
        guard let text = read("/proc/self/cgroup") else { return nil }
        var unified: String?
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let relative = String(fields[2])
            if fields[1].split(separator: ",").contains("memory") {
                let directory = "/sys/fs/cgroup/memory" + (relative == "/" ? "" : relative)
                if access(directory + "/memory.limit_in_bytes", W_OK) == 0 { return (directory, 1) }
            } else if fields[0] == "0" && fields[1].isEmpty {
                unified = relative
            }
        }
        if let unified {
            for root in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
                let directory = root + (unified == "/" ? "" : unified)
                // The memory controller must be delegated to children, or a child has no memory.max.
                if let controllers = read(directory + "/cgroup.subtree_control"),
                    controllers.split(whereSeparator: \.isWhitespace).contains("memory"),
                    access(directory, W_OK) == 0
                {
                    return (directory, 2)
                }
            }
        }
        return nil
        #else
        return nil
        #endif
    }

    private static func read(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    private static func writeFile(_ text: String, to path: String) -> Bool {
        let descriptor = open(path, O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { write(descriptor, $0.baseAddress!, $0.count) } == bytes.count
    }
}
