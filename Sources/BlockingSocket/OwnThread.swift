#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs blocking work (a socket exchange) on a thread of its own and awaits its result, so it never holds one of
/// Swift's cooperative threads — there are as many as cores, and a server answering other requests needs them.
/// A thread costs tens of microseconds, against milliseconds of network wait. Unlike ``WorkerThread``, calls do not
/// take turns: a server making several WeChat calls at once makes them at once.
package func onOwnThread<T: Sendable, Failure: Error>(
    _ work: @escaping @Sendable () throws(Failure) -> T
) async throws(Failure) -> T {
    let result: Result<T, Failure> = await withCheckedContinuation { continuation in
        let job = ThreadJob {
            continuation.resume(returning: Result { () throws(Failure) in try work() })
        }
        let context = Unmanaged.passRetained(job).toOpaque()
        #if canImport(Darwin)
        var thread: pthread_t?
        #else
        var thread: pthread_t = 0
        #endif
        guard
            pthread_create(
                &thread,
                nil,
                { context in
                    let job = Unmanaged<ThreadJob>.fromOpaque(context!).takeRetainedValue()
                    job.body()
                    return nil
                },
                context
            ) == 0
        else {
            // No thread to be had: do the work here rather than fail it.
            Unmanaged<ThreadJob>.fromOpaque(context).takeRetainedValue().body()
            return
        }
        pthread_detach(thread)
    }
    return try result.get()
}

private final class ThreadJob: @unchecked Sendable {
    let body: () -> Void

    init(_ body: @escaping () -> Void) {
        self.body = body
    }
}
