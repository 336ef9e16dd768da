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
        let job = { continuation.resume(returning: Result { () throws(Failure) in try work() }) }
        // No thread to be had: do the work here rather than fail it.
        if !startDetachedThread(job) { job() }
    }
    return try result.get()
}

/// Starts `body` on a detached thread of its own, with a `stackSize`-byte stack (the system's default when nil).
/// False, with `body` not run, when the system has no thread to give: the one place this module makes threads.
package func startDetachedThread(stackSize: Int? = nil, _ body: @escaping () -> Void) -> Bool {
    let context = Unmanaged.passRetained(ThreadJob(body)).toOpaque()
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    if let stackSize { pthread_attr_setstacksize(&attributes, stackSize) }
    #if canImport(Darwin)
    var thread: pthread_t?
    #else
    var thread: pthread_t = 0
    #endif
    let started = pthread_create(
        &thread,
        &attributes,
        { context in
            Unmanaged<ThreadJob>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        },
        context
    )
    guard started == 0 else {
        Unmanaged<ThreadJob>.fromOpaque(context).release()
        return false
    }
    return true
}

private final class ThreadJob: @unchecked Sendable {
    let body: () -> Void

    init(_ body: @escaping () -> Void) {
        self.body = body
    }
}
