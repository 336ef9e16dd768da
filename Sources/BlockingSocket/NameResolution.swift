#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Host names resolved within a deadline. glibc's `getaddrinfo` has no deadline of its own: an unreachable DNS
/// server holds it for its resolver timeouts (5 s per attempt and server by default), longer than a function's
/// whole budget. So a name is resolved on a thread of its own while the caller waits at most until its deadline;
/// a resolution given up on finishes in the background and frees its own answer. An IP address needs no resolver
/// and no thread.
package enum NameResolution {
    /// What resolves a host and port: `getaddrinfo`'s status and list (the list is the caller's to free).
    package typealias Lookup =
        @Sendable (_ host: String, _ port: String) -> (
            status: Int32, list: UnsafeMutablePointer<addrinfo>?
        )

    /// The system's resolver for TCP addresses of any family.
    package static let system: Lookup = { host, port in
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_protocol = Int32(IPPROTO_TCP)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, port, &hints, &list)
        return (status, list)
    }

    /// The addresses of `host:port`, by `lookup` (on a thread of its own unless `host` is an IP address), waiting
    /// no later than `deadline`. The caller frees the list with `freeaddrinfo`.
    package static func addresses(
        host: String,
        port: Int,
        deadline: ContinuousClock.Instant,
        lookup: @escaping Lookup = system
    ) throws(SocketError) -> UnsafeMutablePointer<addrinfo> {
        let answer =
            isIPAddress(host) ? lookup(host, String(port)) : try lookUpAsideUntil(deadline, host, String(port), lookup)
        guard answer.status == 0, let list = answer.list else {
            if let list = answer.list { freeaddrinfo(list) }
            throw SocketError("cannot resolve the host: \(String(cString: gai_strerror(answer.status)))")
        }
        return list
    }

    /// Whether `host` is an IPv4 or IPv6 address rather than a name.
    static func isIPAddress(_ host: String) -> Bool {
        var storage = in6_addr()
        return inet_pton(AF_INET, host, &storage) == 1 || inet_pton(AF_INET6, host, &storage) == 1
    }

    private static func lookUpAsideUntil(
        _ deadline: ContinuousClock.Instant,
        _ host: String,
        _ port: String,
        _ lookup: @escaping Lookup
    ) throws(SocketError) -> (status: Int32, list: UnsafeMutablePointer<addrinfo>?) {
        let pending = PendingLookup()
        // As WorkerThread: glibc's resolver puts buffers of up to 64 KiB on the stack; only pages touched are used.
        let started = startDetachedThread(stackSize: 1 << 20) { pending.finish(lookup(host, port)) }
        guard started else {
            // No thread to be had: resolve here, unbounded, rather than fail.
            return lookup(host, port)
        }
        guard let answer = pending.wait(until: deadline) else {
            throw SocketError("timed out resolving the host", timedOut: true)
        }
        return answer
    }
}

/// One resolution's answer, handed from its thread to the waiting caller, or freed by the thread when the caller
/// has given up.
private final class PendingLookup: @unchecked Sendable {
    // Allocated, not stored inline: pthread objects must not move, and Swift promises no fixed address for a
    // stored property passed as `&`.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let finished = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var answer: (status: Int32, list: UnsafeMutablePointer<addrinfo>?)?
    private var abandoned = false

    init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        // Timed waits on the monotonic clock, as ContinuousClock: a wall-clock step cannot stretch or cut them.
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(finished, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(finished)
        pthread_mutex_destroy(mutex)
        finished.deallocate()
        mutex.deallocate()
    }

    /// Called once, on the resolving thread.
    func finish(_ result: (status: Int32, list: UnsafeMutablePointer<addrinfo>?)) {
        pthread_mutex_lock(mutex)
        let nobodyWaits = abandoned
        if !nobodyWaits { answer = result }
        pthread_cond_signal(finished)
        pthread_mutex_unlock(mutex)
        if nobodyWaits, let list = result.list { freeaddrinfo(list) }
    }

    /// The answer, or nil when `deadline` passes first (the resolution is then abandoned).
    func wait(until deadline: ContinuousClock.Instant) -> (status: Int32, list: UnsafeMutablePointer<addrinfo>?)? {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let left = max(deadline - ContinuousClock.now, .zero).components
        var end = timespec(
            tv_sec: now.tv_sec &+ Int(clamping: left.seconds),
            tv_nsec: now.tv_nsec &+ Int(left.attoseconds / 1_000_000_000)
        )
        if end.tv_nsec >= 1_000_000_000 {
            end.tv_sec &+= 1
            end.tv_nsec -= 1_000_000_000
        }
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while answer == nil {
            if pthread_cond_timedwait(finished, mutex, &end) == ETIMEDOUT, answer == nil {
                abandoned = true
                return nil
            }
        }
        return answer
    }
}
