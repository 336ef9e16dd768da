import BlockingSocket
import Dispatch
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Name resolution bounded by the caller's deadline, which glibc's `getaddrinfo` is not.
@Suite struct NameResolutionTests {
    @Test func aStalledResolverIsGivenUpAtTheDeadline() async throws {
        let release = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        let stalled: NameResolution.Lookup = { _, port in
            // A DNS server that does not answer until the test lets it (or, should the caller wrongly wait for it,
            // for 30 s); then an answer nobody waits for.
            _ = release.wait(timeout: .now() + .seconds(30))
            defer { finished.signal() }
            return NameResolution.system("127.0.0.1", port)
        }
        let outcome = await onOwnThread { () -> Result<Void, SocketError> in
            Result { () throws(SocketError) in
                let list = try NameResolution.addresses(
                    host: "stalled.example",
                    port: 80,
                    deadline: .now + .milliseconds(100),
                    lookup: stalled
                )
                freeaddrinfo(list)
            }
        }
        #expect(throws: SocketError("timed out resolving the host", timedOut: true)) { try outcome.get() }
        #expect(finished.wait(timeout: .now()) == .timedOut, "the caller waited for the resolver")
        release.signal()
        // The abandoned resolution still ends (and frees its answer) once the resolver answers.
        await onOwnThread { finished.wait() }
    }

    @Test func anIPAddressIsNotLookedUpAside() async throws {
        let threads = ThreadNames()
        let lookup: NameResolution.Lookup = { host, port in
            threads.record()
            return NameResolution.system(host, port)
        }
        let caller = await onOwnThread { () -> UInt in
            let list = try? NameResolution.addresses(
                host: "127.0.0.1",
                port: 80,
                deadline: .now + .seconds(5),
                lookup: lookup
            )
            if let list { freeaddrinfo(list) }
            return UInt(pthread_self())
        }
        #expect(threads.all == [caller])
    }

    @Test func aNameIsResolvedAsideAndConnects() async throws {
        let (listener, port) = try LoopbackSocket.make()
        defer { close(listener) }
        let connected = await onOwnThread { () -> Bool in
            guard let socket = try? BlockingSocket.connect(host: "localhost", port: port, deadline: .now + .seconds(10))
            else { return false }
            socket.close()
            return true
        }
        #expect(connected)
    }

    @Test func aRefusedNameSaysTheResolverRefusedIt() async throws {
        let refusing: NameResolution.Lookup = { _, _ in (EAI_NONAME, nil) }
        let outcome = await onOwnThread { () -> Result<Void, SocketError> in
            Result { () throws(SocketError) in
                freeaddrinfo(
                    try NameResolution.addresses(
                        host: "nowhere.example",
                        port: 80,
                        deadline: .now + .seconds(5),
                        lookup: refusing
                    )
                )
            }
        }
        #expect(throws: SocketError.self) { try outcome.get() }
        if case .failure(let error) = outcome {
            #expect(error.description.hasPrefix("cannot resolve the host") && !error.timedOut)
        }
    }
}

/// The threads a lookup ran on.
private final class ThreadNames: @unchecked Sendable {
    private let lock = NSLock()
    private var threads: [UInt] = []

    func record() { lock.withLock { threads.append(UInt(pthread_self())) } }
    var all: [UInt] { lock.withLock { threads } }
}
